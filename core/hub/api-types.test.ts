/**
 * The hub API's wire types (api-types.ts, what the CLI and the console
 * import) are exactly the `Static<>` of the schemas the hub validates and
 * serialises with. These are type assertions: `npm run typecheck` (tsc over
 * this file) fails when a schema and its wire type part.
 */
import type { Static } from 'typebox';
import { describe, expectTypeOf, it } from 'vitest';
import type * as Wire from './api-types.ts';
import type { SessionBody, SessionSchema } from '../console/index.ts';
import type { HostKeySchema, HostKeysViewSchema } from './node-status.ts';
import type { ApprovalSchema, CredentialIssuedSchema } from './routes/onboarding.ts';
import type { PluginCatalogEntrySchema, PluginCatalogSchema } from './routes/plugins.ts';
import type * as S from './schemas.ts';

describe('hub API wire types', () => {
  it('are the Static of their schemas: errors and resources', () => {
    expectTypeOf<Wire.ErrorBody>().toEqualTypeOf<Static<typeof S.ErrorSchema>>();
    expectTypeOf<Wire.ResourceOut>().toEqualTypeOf<Static<typeof S.ResourceSchema>>();
    expectTypeOf<Wire.ResourceList>().toEqualTypeOf<Static<typeof S.ResourceListSchema>>();
  });

  it('are the Static of their schemas: telemetry and commands', () => {
    expectTypeOf<Wire.ReadingOut>().toEqualTypeOf<Static<typeof S.ReadingOutSchema>>();
    expectTypeOf<Wire.TelemetryPage>().toEqualTypeOf<Static<typeof S.TelemetryPageSchema>>();
    expectTypeOf<Wire.LatestReadings>().toEqualTypeOf<Static<typeof S.LatestSchema>>();
    expectTypeOf<Wire.CommandCreateBody>().toEqualTypeOf<Static<typeof S.CommandCreateBody>>();
    expectTypeOf<Wire.CommandAccepted>().toEqualTypeOf<Static<typeof S.CommandAcceptedSchema>>();
    expectTypeOf<Wire.CommandOut>().toEqualTypeOf<Static<typeof S.CommandSchema>>();
    expectTypeOf<Wire.DeviceReadBody>().toEqualTypeOf<Static<typeof S.DeviceReadBody>>();
    expectTypeOf<Wire.DeviceReadOut>().toEqualTypeOf<Static<typeof S.DeviceReadSchema>>();
  });

  it('are the Static of their schemas: tokens and join', () => {
    expectTypeOf<Wire.ApiTokenCreateBody>().toEqualTypeOf<Static<typeof S.TokenCreateBody>>();
    expectTypeOf<Wire.ApiTokenInfo>().toEqualTypeOf<Static<typeof S.TokenInfoSchema>>();
    expectTypeOf<Wire.ApiTokenCreated>().toEqualTypeOf<Static<typeof S.TokenCreatedSchema>>();
    expectTypeOf<Wire.ApiTokenList>().toEqualTypeOf<Static<typeof S.TokenListSchema>>();
    expectTypeOf<Wire.BootstrapTokenCreateBody>().toEqualTypeOf<Static<typeof S.BootstrapTokenCreateBody>>();
    expectTypeOf<Wire.BootstrapTokenInfo>().toEqualTypeOf<Static<typeof S.BootstrapTokenInfoSchema>>();
    expectTypeOf<Wire.BootstrapTokenCreated>().toEqualTypeOf<Static<typeof S.BootstrapTokenCreatedSchema>>();
    expectTypeOf<Wire.BootstrapTokenList>().toEqualTypeOf<Static<typeof S.BootstrapTokenListSchema>>();
    expectTypeOf<Wire.JoinBody>().toEqualTypeOf<Static<typeof S.JoinBody>>();
    expectTypeOf<Wire.JoinResult>().toEqualTypeOf<Static<typeof S.JoinResultSchema>>();
    expectTypeOf<Wire.HostKeyOut>().toEqualTypeOf<Static<typeof HostKeySchema>>();
    expectTypeOf<Wire.HostKeysOut>().toEqualTypeOf<Static<typeof HostKeysViewSchema>>();
  });

  it('are the Static of their schemas: onboarding and the console session', () => {
    expectTypeOf<Wire.CredentialIssued>().toEqualTypeOf<Static<typeof CredentialIssuedSchema>>();
    expectTypeOf<Wire.Approval>().toEqualTypeOf<Static<typeof ApprovalSchema>>();
    expectTypeOf<Wire.ConsoleLogin>().toEqualTypeOf<Static<typeof SessionBody>>();
    expectTypeOf<Wire.ConsoleSessionOut>().toEqualTypeOf<Static<typeof SessionSchema>>();
  });

  it('are the Static of their schemas: the plugin catalog', () => {
    expectTypeOf<Wire.PluginCatalogEntry>().toEqualTypeOf<Static<typeof PluginCatalogEntrySchema>>();
    expectTypeOf<Wire.PluginCatalog>().toEqualTypeOf<Static<typeof PluginCatalogSchema>>();
  });
});
