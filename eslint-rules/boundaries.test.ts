import path from 'node:path';
import type { ESLint, Rule } from 'eslint';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, it } from 'vitest';

// boundaries.js is plain JS with no declaration file (tsconfig has no allowJs), so load it through a
// non-literal specifier and give it its type here instead of via an implicit-any static import.
const pluginUrl = new URL('./boundaries.js', import.meta.url).href;
const plugin = ((await import(pluginUrl)) as { default: ESLint.Plugin }).default;
const rule = plugin.rules?.['import-boundaries'] as Rule.RuleModule;

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const ROOT = path.resolve(import.meta.dirname, '..');
const at = (rel: string): string => path.join(ROOT, rel);
const options = [{ root: ROOT }];

const corePrivate = (source: string, cap: string) => ({ messageId: 'corePrivate', data: { source, cap } });
const pluginScope = (name: string, source: string) => ({ messageId: 'pluginScope', data: { name, source } });
const pluginPrivate = (name: string, source: string) => ({ messageId: 'pluginPrivate', data: { name, source } });

const ruleTester = new RuleTester({
  languageOptions: { ecmaVersion: 'latest', sourceType: 'module' },
});

ruleTester.run('import-boundaries', rule, {
  valid: [
    // a plugin's tests may use the repository's real-peer helpers
    { filename: at('plugins/modbus/src/driver.test.ts'), code: "import { startPymodbus } from '../../../test/support/pymodbus.ts';", options },
    // core: cross-capability import of a public entry, in every accepted form
    { filename: at('core/kernel/kernel.ts'), code: "import { Store } from '../store/index.ts';", options },
    { filename: at('core/kernel/kernel.ts'), code: "import { Store } from '../store/index.js';", options },
    { filename: at('core/kernel/kernel.ts'), code: "import { Store } from '../store/index';", options },
    { filename: at('core/kernel/kernel.ts'), code: "import { Store } from '../store';", options },
    { filename: at('core/kernel/kernel.ts'), code: "import { Store } from '../store/';", options },
    { filename: at('core/hub/deep/nested/x.ts'), code: "import { Tunnel } from '../../../tunnel/index.ts';", options },
    // core: same-capability private import
    { filename: at('core/kernel/kernel.ts'), code: "import { Registry } from './internal/registry.ts';", options },
    { filename: at('core/kernel/internal/registry.ts'), code: "import { k } from '../kernel.ts';", options },
    { filename: at('core/sdk/testkit/index.ts'), code: "import { defineDevice } from '../device.ts';", options },
    // the kernel's base entry
    { filename: at('cli/main.ts'), code: "import { EDGEADM_VERSION } from '../core/kernel/base.ts';", options },
    // the PKI's pin entry
    { filename: at('cli/join.ts'), code: "import { caCertHash } from '../core/pki/pin.ts';", options },
    // testkit entry
    { filename: at('test/kernel.test.ts'), code: "import { harness } from '../core/sdk/testkit/index.ts';", options },
    { filename: at('test/kernel.test.ts'), code: "import { harness } from '../core/sdk/testkit';", options },
    { filename: at('core/kernel/kernel.test.ts'), code: "import { harness } from '../sdk/testkit/index.js';", options },
    // cli / sites / bench may use core entries
    { filename: at('cli/commands/plugins.ts'), code: "import { PluginManager } from '../../core/plugins/index.ts';", options },
    { filename: at('sites/site.ts'), code: "import { Grid } from '../core/grid/index.ts';", options },
    { filename: at('cli/bin/edgeadm.js'), code: "import('../../core/plugins/index.ts');", options },
    // cli importing its own files is unconstrained
    { filename: at('cli/main.ts'), code: "import { x } from './commands/demo.ts';", options },
    // plugins: public sdk and own files
    { filename: at('plugins/modbus/index.ts'), code: "import { definePlugin } from '../../core/sdk/index.ts';", options },
    { filename: at('plugins/modbus/src/driver.ts'), code: "import { definePlugin } from '../../../core/sdk';", options },
    { filename: at('plugins/modbus/driver.test.ts'), code: "import { harness } from '../../core/sdk/testkit/index.ts';", options },
    { filename: at('plugins/modbus/src/driver.ts'), code: "import { codec } from './codec.ts';", options },
    { filename: at('plugins/modbus/src/driver.ts'), code: "import { plugin } from '../index.ts';", options },
    { filename: at('plugins/modbus/index.ts'), code: "import { definePlugin } from 'edgeadm/sdk';", options },
    { filename: at('plugins/modbus/index.test.ts'), code: "import { harness } from 'edgeadm/sdk/testkit';", options },
    { filename: at('plugins/modbus/index.ts'), code: "import ModbusRTU from 'modbus-serial';", options },
    { filename: at('plugins/modbus/index.ts'), code: "import fs from 'node:fs';", options },
    // dynamic import / export-from / require of allowed targets
    { filename: at('core/kernel/loader.ts'), code: "const m = await import('../plugins/index.ts');", options },
    { filename: at('core/hub/index.ts'), code: "export { Hub } from './hub.ts';", options },
    { filename: at('core/hub/index.ts'), code: "export * from '../sdk/index.ts';", options },
    { filename: at('plugins/mqtt/index.ts'), code: "export * from '../../core/sdk/index.ts';", options },
    // non-static specifiers are not checked
    { filename: at('plugins/mqtt/index.ts'), code: 'const m = await import(name);', options },
    // fixtures are exempt
    { filename: at('test/fixtures/broken-plugin/index.ts'), code: "import { k } from '../../../core/kernel/internal.ts';", options },
    { filename: at('plugins/opcua/test/fixtures/bad.ts'), code: "import { x } from '../../../mqtt/index.ts';", options },
    { filename: at('core/plugins/fixtures/p/index.ts'), code: "import 'edgeadm/core/kernel/x';", options },
    // a plugin's testkit from anywhere; its entry from tests and benchmarks
    { filename: at('test/opcua-site.e2e.test.ts'), code: "import { startOpcuaSimulator } from '../plugins/opcua/testkit/server.ts';", options },
    { filename: at('cli/demo.ts'), code: "import { startOpcuaSimulator } from '../plugins/opcua/testkit/server.ts';", options },
    { filename: at('sites/broker-storage.test.ts'), code: "import mqtt from '../plugins/mqtt/index.ts';", options },
    { filename: at('core/sdk/testkit/site.test.ts'), code: "import simulator from '../../../plugins/simulator/index.ts';", options },
    { filename: at('bench/opcua-child.ts'), code: "import opcua from '../plugins/opcua/index.ts';", options },
    { filename: at('test/support/x.ts'), code: "import opcua from '../../plugins/opcua';", options },
    // a plugin's fixtures (data) may be read by tests elsewhere
    { filename: at('test/mqtt.test.ts'), code: "import profile from '../plugins/mqtt/fixtures/plug.ts';", options },
    // files outside the root are ignored
    { filename: path.join(path.dirname(ROOT), 'elsewhere', 'x.ts'), code: "import { k } from '../main/core/kernel/internal.ts';", options },
  ],
  invalid: [
    // nothing outside plugins/<name>/ imports its private files
    {
      filename: at('cli/discover.ts'),
      code: "const { discoverOpcua } = await import('../plugins/opcua/src/discover.ts');",
      options,
      errors: [pluginPrivate('opcua', '../plugins/opcua/src/discover.ts')],
    },
    { filename: at('cli/main.ts'), code: "import opcua from '../plugins/opcua/index.ts';", options, errors: [pluginPrivate('opcua', '../plugins/opcua/index.ts')] },
    { filename: at('sites/agent.ts'), code: "export { createMqttDriver } from '../plugins/mqtt/src/driver.ts';", options, errors: [pluginPrivate('mqtt', '../plugins/mqtt/src/driver.ts')] },
    { filename: at('core/hub/app.ts'), code: "import { x } from '../../plugins/modbus/src/bus.ts';", options, errors: [pluginPrivate('modbus', '../../plugins/modbus/src/bus.ts')] },
    { filename: at('test/modbus.e2e.test.ts'), code: "import { openBus } from '../plugins/modbus/src/bus.ts';", options, errors: [pluginPrivate('modbus', '../plugins/modbus/src/bus.ts')] },
    { filename: at('bench/modbus.ts'), code: "import { openBus } from '../plugins/modbus/src/bus.ts';", options, errors: [pluginPrivate('modbus', '../plugins/modbus/src/bus.ts')] },
    // core: private file of another capability
    {
      filename: at('core/kernel/kernel.ts'),
      code: "import { Db } from '../store/sqlite.ts';",
      options,
      errors: [corePrivate('../store/sqlite.ts', 'store')],
    },
    {
      filename: at('core/kernel/kernel.ts'),
      code: "import { Db } from '../store/internal/index.ts';",
      options,
      errors: [corePrivate('../store/internal/index.ts', 'store')],
    },
    {
      filename: at('cli/commands/plugins.ts'),
      code: "import { Loader } from '../../core/plugins/loader.ts';",
      options,
      errors: [corePrivate('../../core/plugins/loader.ts', 'plugins')],
    },
    {
      filename: at('test/kernel.test.ts'),
      code: "import { helper } from '../core/sdk/testkit/helpers.ts';",
      options,
      errors: [corePrivate('../core/sdk/testkit/helpers.ts', 'sdk')],
    },
    {
      // the testkit entry exists only for sdk
      filename: at('test/kernel.test.ts'),
      code: "import { x } from '../core/kernel/testkit/index.ts';",
      options,
      errors: [corePrivate('../core/kernel/testkit/index.ts', 'kernel')],
    },
    {
      filename: at('cli/bin/edgeadm.js'),
      code: "const { run } = require('../../core/kernel/run.js');",
      options,
      errors: [corePrivate('../../core/kernel/run.js', 'kernel')],
    },
    // dynamic import and export-from
    {
      filename: at('core/kernel/loader.ts'),
      code: "const m = await import('../plugins/registry.ts');",
      options,
      errors: [corePrivate('../plugins/registry.ts', 'plugins')],
    },
    {
      filename: at('core/kernel/loader.ts'),
      code: 'const m = await import(`../plugins/registry.ts`);',
      options,
      errors: [corePrivate('../plugins/registry.ts', 'plugins')],
    },
    {
      filename: at('core/hub/index.ts'),
      code: "export { Frame } from '../tunnel/frame.ts';",
      options,
      errors: [corePrivate('../tunnel/frame.ts', 'tunnel')],
    },
    {
      filename: at('core/hub/index.ts'),
      code: "export * from '../tunnel/frame.ts';",
      options,
      errors: [corePrivate('../tunnel/frame.ts', 'tunnel')],
    },
    // plugins: anything in core other than the public sdk
    {
      filename: at('plugins/modbus/index.ts'),
      code: "import { Kernel } from '../../core/kernel/index.ts';",
      options,
      errors: [pluginScope('modbus', '../../core/kernel/index.ts')],
    },
    {
      filename: at('plugins/modbus/index.ts'),
      code: "import { internal } from '../../core/sdk/internal.ts';",
      options,
      errors: [pluginScope('modbus', '../../core/sdk/internal.ts')],
    },
    {
      filename: at('plugins/modbus/index.ts'),
      code: "const k = await import('../../core/kernel/index.ts');",
      options,
      errors: [pluginScope('modbus', '../../core/kernel/index.ts')],
    },
    {
      filename: at('plugins/modbus/index.ts'),
      code: "export * from '../../core/kernel/index.ts';",
      options,
      errors: [pluginScope('modbus', '../../core/kernel/index.ts')],
    },
    // plugins: test support is for tests only
    {
      filename: at('plugins/modbus/src/driver.ts'),
      code: "import { startPymodbus } from '../../../test/support/pymodbus.ts';",
      options,
      errors: [pluginScope('modbus', '../../../test/support/pymodbus.ts')],
    },
    // plugins: sibling plugin, or anything else outside the plugin
    {
      filename: at('plugins/modbus/src/driver.ts'),
      code: "import { MqttClient } from '../../mqtt/client.ts';",
      options,
      errors: [pluginScope('modbus', '../../mqtt/client.ts')],
    },
    {
      filename: at('plugins/modbus/index.ts'),
      code: "import { x } from '../modbus-extra/index.ts';",
      options,
      errors: [pluginScope('modbus', '../modbus-extra/index.ts')],
    },
    {
      filename: at('plugins/opcua/index.ts'),
      code: "import { site } from '../../sites/site.ts';",
      options,
      errors: [pluginScope('opcua', '../../sites/site.ts')],
    },
    // plugins: package self-imports other than edgeadm/sdk(/testkit)
    {
      filename: at('plugins/modbus/index.ts'),
      code: "import { Kernel } from 'edgeadm/core/kernel/x';",
      options,
      errors: [pluginScope('modbus', 'edgeadm/core/kernel/x')],
    },
    {
      filename: at('plugins/modbus/index.ts'),
      code: "import pkg from 'edgeadm/package.json' with { type: 'json' };",
      options,
      errors: [pluginScope('modbus', 'edgeadm/package.json')],
    },
    {
      filename: at('plugins/edgex/index.ts'),
      code: "const sdk = require('edgeadm/sdk/internal');",
      options,
      errors: [pluginScope('edgex', 'edgeadm/sdk/internal')],
    },
  ],
});

// TypeScript-only syntax, parsed with typescript-eslint's parser.
const tsRuleTester = new RuleTester({
  languageOptions: { parser: tseslint.parser, ecmaVersion: 'latest', sourceType: 'module' },
});

tsRuleTester.run('import-boundaries (TypeScript syntax)', rule, {
  valid: [
    { filename: at('core/kernel/kernel.ts'), code: "import type { Store } from '../store/index.ts';", options },
    { filename: at('plugins/mqtt/index.ts'), code: "import type { Plugin } from 'edgeadm/sdk';", options },
  ],
  invalid: [
    {
      filename: at('core/kernel/kernel.ts'),
      code: "import type { Row } from '../store/schema.ts';",
      options,
      errors: [corePrivate('../store/schema.ts', 'store')],
    },
    // pin.ts is an entry of the PKI only
    {
      filename: at('cli/join.ts'),
      code: "import { x } from '../core/store/pin.ts';",
      options,
      errors: [corePrivate('../core/store/pin.ts', 'store')],
    },
    // base.ts is an entry of the kernel only
    {
      filename: at('cli/main.ts'),
      code: "import { x } from '../core/store/base.ts';",
      options,
      errors: [corePrivate('../core/store/base.ts', 'store')],
    },
    {
      filename: at('core/kernel/kernel.ts'),
      code: "export type { Row } from '../store/schema.ts';",
      options,
      errors: [corePrivate('../store/schema.ts', 'store')],
    },
    {
      filename: at('plugins/mqtt/index.ts'),
      code: "type K = typeof import('../../core/kernel/index.ts');",
      options,
      errors: [pluginScope('mqtt', '../../core/kernel/index.ts')],
    },
  ],
});

// Without the root option the rule falls back to ESLint's cwd (process.cwd() for RuleTester).
const cwdFile = (rel: string): string => path.join(process.cwd(), rel);

new RuleTester().run('import-boundaries (cwd as root)', rule, {
  valid: [{ filename: cwdFile('core/kernel/a.ts'), code: "import '../store/index.ts';" }],
  invalid: [
    {
      filename: cwdFile('core/kernel/a.ts'),
      code: "import '../store/db.ts';",
      errors: [corePrivate('../store/db.ts', 'store')],
    },
  ],
});
