/** Waiting for Ctrl-C or a service manager's stop. */

export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal handlers do not keep the event loop alive on their own.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const on = (sig: NodeJS.Signals): void => {
      clearInterval(keepAlive);
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
