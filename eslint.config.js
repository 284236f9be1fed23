import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import boundaries from './eslint-rules/boundaries.js';

const root = import.meta.dirname;

const unusedVarsOptions = {
  args: 'after-used',
  argsIgnorePattern: '^_',
  varsIgnorePattern: '^_',
  caughtErrorsIgnorePattern: '^_',
  destructuredArrayIgnorePattern: '^_',
  ignoreRestSiblings: true,
};

export default defineConfig(
  globalIgnores(['**/node_modules/', 'coverage/', '**/fixtures/**/node_modules/', '.data/', 'dist/'], 'edgeadm/ignores'),

  {
    name: 'edgeadm/js-recommended',
    extends: [js.configs.recommended],
    rules: {
      'no-unused-vars': ['error', unusedVarsOptions],
    },
  },

  // TypeScript: type-aware rules via the project service (tsconfig.json at the root).
  {
    name: 'edgeadm/typescript',
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: root,
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'separate-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': ['error', unusedVarsOptions],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // Kept on explicitly (also part of recommendedTypeChecked).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/require-await': 'error',
    },
  },

  // Tests: vitest's asymmetric matchers (expect.stringMatching, ...) are typed `any`.
  {
    name: 'edgeadm/tests',
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },

  // Plain JavaScript (cli/bin, eslint.config.js, eslint-rules): JS rules + Node globals, nothing type-aware.
  {
    name: 'edgeadm/javascript',
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ignores: ['core/console/web/**'],
    plugins: { '@typescript-eslint': tseslint.plugin },
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },
  // The web console's browser modules (core/console/web): browser globals, no Node.
  {
    name: 'edgeadm/browser',
    files: ['core/console/web/**/*.js'],
    plugins: { '@typescript-eslint': tseslint.plugin },
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: { ...globals.browser },
    },
  },
  {
    name: 'edgeadm/commonjs',
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },

  // Module boundaries (see eslint-rules/boundaries.js).
  {
    name: 'edgeadm/boundaries',
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    plugins: { edgeadm: boundaries },
    rules: {
      'edgeadm/import-boundaries': ['error', { root }],
    },
  },
);
