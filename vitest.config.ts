import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `edgeadm/sdk` and `edgeadm/sdk/testkit` inside this repository (examples/): tsconfig.json's paths.
  resolve: { tsconfigPaths: true },
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/fixtures/**'],
    // The CLI the tests start runs from dist/: built first when a source changed.
    globalSetup: ['test/support/dist-setup.ts'],
    pool: 'forks',
    // Two files at a time even on two cores (the default would be one): most of a file's time is spent
    // waiting on the processes, sockets and timers it starts, so the machine sits half idle otherwise.
    maxWorkers: Math.max(2, availableParallelism()),
    // A safety net against hangs, not a speed claim (those are benchmarks): CLI-heavy cases run many
    // child processes in a row and take longer while another file runs beside them.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    server: {
      deps: {
        // Plugin packages installed into test projects import edgeadm through `edgeadm/sdk`
        // (dist/sdk.js): let vitest load them with that build, as one module graph.
        inline: [/[\\/]node_modules[\\/]@acme[\\/]/],
      },
    },
  },
});
