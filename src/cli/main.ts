#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { InvalidManifestError, LockedError, UsageError, WeftError } from '../errors.js';
import { registerCommands } from './commands.js';
import { DEFAULT_STATE_DIR } from './context.js';

/** Exit codes: 0 success/converged, 1 failed, 2 invalid input or usage. */
export const EXIT = { ok: 0, failed: 1, invalid: 2 } as const;

function program(): Command {
  const p = new Command('weft')
    .description('Declarative reconciler for Docker-style container networks on Linux')
    // --version is `weft version` (main() rewrites it): the commit and tool versions, not just a number.
    .option('-V, --version', "weft's version and commit, the kernel release and the tools found")
    .addOption(new Option('--host-netns <ns>', 'treat this network namespace as the host (every command runs inside it)'))
    .addOption(new Option('--node <name>', 'the Host this weft runs as (default: the Host whose address is local)'))
    .addOption(new Option('--state-dir <dir>', 'where locks and records live').default(DEFAULT_STATE_DIR))
    .addOption(new Option('--store <url>', 'membership store for overlay peers outside the manifests: etcd://HOST:PORT[?ttl=SECONDS] (etcds:// for TLS) or zk://HOST:PORT[?ttl=SECONDS]'))
    .addOption(new Option('--store-ca <file>', 'CA certificates (PEM) that sign the store\'s server certificate [$WEFT_STORE_CA]'))
    .addOption(new Option('--store-cert <file>', 'client certificate (PEM) for the store [$WEFT_STORE_CERT]'))
    .addOption(new Option('--store-key <file>', 'the client certificate\'s private key (PEM) [$WEFT_STORE_KEY]'))
    .addOption(new Option('--store-user <name>', 'store user; the password comes from $WEFT_STORE_PASSWORD or --store-password-file [$WEFT_STORE_USER]'))
    .addOption(new Option('--store-password-file <file>', 'a file holding the store user\'s password [$WEFT_STORE_PASSWORD_FILE]'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').default('warn'))
    .addOption(new Option('--log-format <format>', 'json or pretty (default: pretty on a terminal)'))
    .showHelpAfterError()
    .exitOverride();
  registerCommands(p);
  return p;
}

async function main(argv: string[]): Promise<number> {
  // `weft exec CONTAINER -- CMD...`: everything after "--" is the command, passed through untouched.
  const dash = argv.indexOf('--');
  const head = (dash >= 0 ? argv.slice(0, dash) : argv).map((a) => (a === '--version' || a === '-V' ? 'version' : a));
  const tail = dash >= 0 ? argv.slice(dash + 1) : [];
  const p = program();
  p.setOptionValue('passthrough', tail);
  try {
    await p.parseAsync(head, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (help, version, or a usage error).
    return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
  }
  if (err instanceof InvalidManifestError) {
    console.error(err.message);
    console.error(`weft: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in the manifests; nothing was changed`);
    return EXIT.invalid;
  }
  if (err instanceof UsageError) {
    console.error(`weft: ${err.message}`);
    return EXIT.invalid;
  }
  if (err instanceof LockedError) {
    console.error(`weft: ${err.message}`);
    return EXIT.failed;
  }
  if (err instanceof WeftError) {
    console.error(`weft: ${err.message}`);
    if (err.code === 'INTERNAL' && err.stack) console.error(err.stack);
    return EXIT.failed;
  }
  console.error(`weft: internal error (a weft bug, please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.failed;
}

process.exitCode = await main(process.argv.slice(2));
