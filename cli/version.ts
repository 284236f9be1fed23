/** `edgeadm version` */
import type { Command } from 'commander';
import { EDGEADM_VERSION } from '../core/kernel/base.ts';
import { emit, renderDetails, type OutputFormat } from './output.ts';
import { examples, summary } from './commands.ts';

export function registerVersion(program: Command): void {
  const cmd = program
    .command('version')
    .description(summary('version'))
    .action((_opts, c: Command) => {
      const { output } = c.optsWithGlobals<{ output: OutputFormat }>();
      const info = { edgeadm: EDGEADM_VERSION, node: process.versions.node, platform: `${process.platform}/${process.arch}` };
      emit(output, info, () => renderDetails(Object.entries(info)));
    });
  examples(cmd, ['edgeadm version', 'edgeadm version -o json']);
}
