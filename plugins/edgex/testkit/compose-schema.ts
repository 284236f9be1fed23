/**
 * Checks a Compose document against the official Compose Specification
 * JSON Schema (compose-spec.schema.json next to this file; source and
 * commit in README.md). Tests use it on the Compose files we render.
 *
 * The schema is draft-07, so it is compiled with Ajv's default (draft-07)
 * class, once, on first use.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

const SCHEMA_URL = new URL('./compose-spec.schema.json', import.meta.url);

/** Ajv knows draft-07 by this id; the Compose schema spells it with https and no '#'. */
const AJV_DRAFT_07 = 'http://json-schema.org/draft-07/schema';
const SPEC_DRAFT_07 = 'https://json-schema.org/draft-07/schema';

let validate: ValidateFunction | undefined;

function compile(): ValidateFunction {
  const schema = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv({
    // Report every problem, not just the first.
    allErrors: true,
    // The schema uses union types (`"type": ["boolean", "string"]`) throughout and
    // puts object keywords on an array branch (definitions.gpus): both are valid
    // JSON Schema that Ajv's strictTypes would only log about. Unknown keywords
    // (strictSchema) still throw.
    strictTypes: false,
  });
  const meta = ajv.getSchema(AJV_DRAFT_07)?.schema;
  if (typeof meta !== 'object') throw new Error(`Ajv has no draft-07 meta-schema at ${AJV_DRAFT_07}`);
  // Same meta-schema under the spelling the Compose schema's $schema uses, so Ajv
  // still checks the schema itself; a schema of another draft fails to compile here.
  ajv.addMetaSchema({ ...meta, $id: SPEC_DRAFT_07 });
  return ajv.compile(schema);
}

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? '/' : error.instancePath;
  const message = error.message ?? error.keyword;
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') {
    return `${where}: ${message} (${String(params.additionalProperty)})`;
  }
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `${where}: ${message} (${params.allowedValues.map(String).join(', ')})`;
  }
  return `${where}: ${message}`;
}

/**
 * Every way `doc` (a parsed Compose file) breaks the Compose Specification,
 * one line each, `<instance path>: <message>`; `[]` when it conforms.
 * Where a value matches none of a `oneOf`'s branches, each branch's failure
 * is listed as well as the `oneOf` itself.
 */
export function composeProblems(doc: unknown): string[] {
  validate ??= compile();
  if (validate(doc)) return [];
  return [...new Set((validate.errors ?? []).map(describe))];
}
