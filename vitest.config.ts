import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `edgeadm/sdk` and `edgeadm/sdk/testkit` inside this repository (examples/): tsconfig.json's paths.
  resolve: { tsconfigPaths: true },
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/fixtures/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
    server: {
      deps: {
        // Plugin packages installed into test projects import edgeadm's TypeScript
        // sources through `edgeadm/sdk`; let vitest transform them as edgeadm's own
        // process does (its tsx loader) instead of handing them to plain Node.
        inline: [/[\\/]node_modules[\\/]@acme[\\/]/],
      },
    },
  },
});
