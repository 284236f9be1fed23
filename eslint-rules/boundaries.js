/**
 * Local ESLint plugin enforcing edgeadm's module boundaries.
 *
 * Repo layout: `core/<capability>/...`, `plugins/<name>/...`, `sites/`, `cli/`,
 * `test/`, `bench/`.
 *
 * Checked: `import ... from`, `export ... from`, `import('literal')`,
 * `require('literal')` (plus TS `import x = require()` / `import('x')` types).
 *
 * 1. A relative import that resolves into `core/<cap>/` from outside that
 *    capability must target the capability's public entry
 *    (`core/<cap>/index.ts`, `index.js`, `index` or the directory itself).
 *    `core/sdk/testkit/index.ts` (same forms) is an additional public entry,
 *    and so is `core/kernel/base.ts`: the kernel's part that imports no
 *    package, for what every CLI start loads (a bundle chunk reached through
 *    index.ts holds all the kernel's modules), and `core/pki/pin.ts`: the CA
 *    pin, which the commands that print or check it need without the rest of
 *    the PKI (its certificate library).
 * 2. A file under `plugins/<name>/` may import relatively only its own files
 *    or the public sdk (`core/sdk/index.ts`, `core/sdk/testkit/index.ts`), and
 *    from the package itself only `edgeadm/sdk` and `edgeadm/sdk/testkit`.
 *    Its `*.test.ts` files may also import `test/support/**` (real-peer
 *    helpers); its shipped code may not.
 * 3. Nothing outside `plugins/<name>/` imports the plugin's files: the CLI,
 *    sites and core reach plugins through the registry and the SDK (a
 *    plugin's commands and discovery come from its manifest's `tools`
 *    module). Allowed from outside: its test kit (`plugins/<name>/testkit/**`,
 *    simulators meant for others, as the SDK's testkit), and, from tests
 *    (`*.test.ts`, `test/**`) and benchmarks (`bench/**`), its entry
 *    (`plugins/<name>/index.ts`, the package's public face: the definition
 *    the registry loads).
 * 4. Files with a `fixtures` directory in their path are exempt.
 *
 * Paths are computed relative to the repo root: the `root` option (pass
 * `import.meta.dirname` from eslint.config.js), falling back to ESLint's cwd.
 */
import path from 'node:path';

const PACKAGE_NAME = 'edgeadm';
const ENTRY_FORMS = new Set(['', 'index', 'index.ts', 'index.js']);
const SDK_EXTRA_ENTRIES = new Set(['testkit', 'testkit/index', 'testkit/index.ts', 'testkit/index.js']);
const KERNEL_EXTRA_ENTRIES = new Set(['base', 'base.ts', 'base.js']);
const PKI_EXTRA_ENTRIES = new Set(['pin', 'pin.ts', 'pin.js']);
const ALLOWED_PACKAGE_IMPORTS = new Set([`${PACKAGE_NAME}/sdk`, `${PACKAGE_NAME}/sdk/testkit`]);
const SOURCE_EXT = /\.[cm]?[jt]sx?$/;
const TEST_FILE = /\.test\.[cm]?[jt]s$/;

/**
 * @param {string} root
 * @param {string} absPath
 * @returns {string[] | null} path segments relative to root, or null if outside it
 */
function segmentsOf(root, absPath) {
  const rel = path.relative(root, absPath);
  if (rel === '') return [];
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep);
}

/**
 * Which core capability a path lies in, e.g. `core/kernel/x.ts` -> `kernel`.
 * `core/<cap>` itself (directory form) counts; a file directly in `core/` does not.
 * @param {string[] | null} segs
 * @returns {{ cap: string, rest: string } | null}
 */
function coreLocation(segs) {
  if (!segs || segs.length < 2 || segs[0] !== 'core') return null;
  const cap = /** @type {string} */ (segs[1]);
  if (segs.length === 2 && SOURCE_EXT.test(cap)) return null;
  return { cap, rest: segs.slice(2).join('/') };
}

/**
 * @param {string[] | null} segs
 * @returns {string | null} plugin name when the path is inside `plugins/<name>/`
 */
function pluginName(segs) {
  if (!segs || segs.length < 2 || segs[0] !== 'plugins') return null;
  return /** @type {string} */ (segs[1]);
}

/**
 * What a file outside `plugins/<name>/` may import of it: the testkit from
 * anywhere, the entry from tests and benchmarks.
 * @param {string[]} targetSegs path segments of the target, starting `plugins/<name>`
 * @param {boolean} fromTestOrBench
 */
function isPluginPublic(targetSegs, fromTestOrBench) {
  const rest = targetSegs.slice(2);
  if (rest[0] === 'testkit') return true;
  return fromTestOrBench && ENTRY_FORMS.has(rest.join('/'));
}

/** @param {{ cap: string, rest: string } | null} loc */
function isPublicEntry(loc) {
  if (!loc) return false;
  return ENTRY_FORMS.has(loc.rest) || (loc.cap === 'sdk' && SDK_EXTRA_ENTRIES.has(loc.rest)) || (loc.cap === 'kernel' && KERNEL_EXTRA_ENTRIES.has(loc.rest)) || (loc.cap === 'pki' && PKI_EXTRA_ENTRIES.has(loc.rest));
}

/** @type {import('eslint').Rule.RuleModule} */
const importBoundaries = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'Enforce edgeadm module boundaries: core capabilities are used through their index.ts, plugins only use the public sdk, and nothing outside a plugin imports its private files.',
    },
    schema: [
      {
        type: 'object',
        properties: { root: { type: 'string' } },
        additionalProperties: false,
      },
    ],
    messages: {
      corePrivate: "Import of '{{source}}' reaches into core/{{cap}} private files; import core/{{cap}}/index.ts instead.",
      pluginScope: "Plugin '{{name}}' may import only core/sdk (or its own files), not '{{source}}'.",
      pluginPrivate:
        "Import of '{{source}}' reaches into plugin '{{name}}': from outside plugins/{{name}}/ only its testkit (and, from tests and bench, its index.ts) may be imported; reach plugins through the registry and core/sdk.",
    },
  },

  create(context) {
    /** @type {{ root?: string } | undefined} */
    const options = context.options[0];
    const cwd = context.cwd;
    const root = path.resolve(cwd, options?.root ?? cwd);
    const filename = context.physicalFilename ?? context.filename;
    if (!filename || !path.isAbsolute(filename)) return {};

    const fromSegs = segmentsOf(root, filename);
    if (!fromSegs || fromSegs.includes('fixtures')) return {};

    const fromDir = path.dirname(filename);
    const fromCore = coreLocation(fromSegs);
    const fromPlugin = fromSegs.length > 2 ? pluginName(fromSegs) : null;
    const fromTest = TEST_FILE.test(filename);
    const fromTestOrBench = fromTest || fromSegs[0] === 'test' || fromSegs[0] === 'bench';

    /**
     * @param {import('estree').Node} node node to report on
     * @param {string} source
     */
    function check(node, source) {
      if (source.startsWith('.')) {
        const targetSegs = segmentsOf(root, path.resolve(fromDir, source));
        const target = coreLocation(targetSegs);

        if (fromPlugin !== null) {
          const ownFile = pluginName(targetSegs) === fromPlugin;
          const publicSdk = target?.cap === 'sdk' && isPublicEntry(target);
          // A plugin's tests (never its shipped code) may use the repository's real-peer test helpers.
          const testSupport = fromTest && targetSegs?.[0] === 'test' && targetSegs[1] === 'support';
          if (!ownFile && !publicSdk && !testSupport) {
            context.report({ node, messageId: 'pluginScope', data: { name: fromPlugin, source } });
          }
          return;
        }

        const targetPlugin = targetSegs && targetSegs.length > 2 ? pluginName(targetSegs) : null;
        if (targetPlugin !== null && targetSegs && !targetSegs.includes('fixtures') && !isPluginPublic(targetSegs, fromTestOrBench)) {
          context.report({ node, messageId: 'pluginPrivate', data: { name: targetPlugin, source } });
          return;
        }

        if (target && target.cap !== fromCore?.cap && !isPublicEntry(target)) {
          context.report({ node, messageId: 'corePrivate', data: { source, cap: target.cap } });
        }
        return;
      }

      if (
        fromPlugin !== null &&
        (source === PACKAGE_NAME || source.startsWith(`${PACKAGE_NAME}/`)) &&
        !ALLOWED_PACKAGE_IMPORTS.has(source)
      ) {
        context.report({ node, messageId: 'pluginScope', data: { name: fromPlugin, source } });
      }
    }

    /**
     * String value of a literal or expression-less template literal.
     * @param {any} node
     * @returns {string | null}
     */
    function staticString(node) {
      if (!node) return null;
      if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
      if (node.type === 'TemplateLiteral' && node.expressions.length === 0 && node.quasis.length === 1) {
        return node.quasis[0].value.cooked ?? null;
      }
      return null;
    }

    /** @param {any} node */
    function checkSource(node) {
      const value = staticString(node);
      if (value !== null) check(node, value);
    }

    return {
      ImportDeclaration(node) {
        checkSource(node.source);
      },
      ExportNamedDeclaration(node) {
        if (node.source) checkSource(node.source);
      },
      ExportAllDeclaration(node) {
        checkSource(node.source);
      },
      ImportExpression(node) {
        checkSource(node.source);
      },
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments.length >= 1) {
          checkSource(node.arguments[0]);
        }
      },
      // TypeScript-only syntax (only reached when parsed by typescript-eslint).
      /** @param {any} node */
      TSExternalModuleReference(node) {
        checkSource(node.expression);
      },
      /** @param {any} node */
      TSImportType(node) {
        if (node.source) {
          checkSource(node.source);
        } else {
          // typescript-eslint < 8.x without `source`: the specifier is a TSLiteralType argument.
          const arg = node.argument;
          checkSource(arg?.type === 'TSLiteralType' ? arg.literal : arg);
        }
      },
    };
  },
};

/** @type {import('eslint').ESLint.Plugin} */
const plugin = {
  meta: { name: 'edgeadm' },
  rules: { 'import-boundaries': importBoundaries },
};

export default plugin;
