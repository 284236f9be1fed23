/** Waiting for Ctrl-C or a service manager's stop. */

/**
 * Resolves with the first SIGINT or SIGTERM. Until then the process stays
 * alive; `cancel` (a start that failed, say) lets it end, and the promise
 * then never resolves.
 */
export function waitForSignal(cancel?: AbortSignal): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal handlers do not keep the event loop alive on their own.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const off = (): void => {
      clearInterval(keepAlive);
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    };
    const on = (sig: NodeJS.Signals): void => {
      off();
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    cancel?.addEventListener('abort', off, { once: true });
  });
}
