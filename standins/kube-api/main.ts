// Standalone entry: starts the Kubernetes API stand-in and keeps it up until SIGINT/SIGTERM.
//   node --experimental-strip-types standins/kube-api/main.ts [--port N] [--kubeconfig PATH]
//        [--require-weight-sum-100] [--ready-delay-ms N]
import { KubeApiServer, type KubeApiOptions } from './index.js';

function parseArgs(argv: string[]): KubeApiOptions {
  const opts: KubeApiOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=')
      ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
      : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--port') opts.port = Number(value());
    else if (flag === '--kubeconfig') opts.kubeconfigPath = value();
    else if (flag === '--require-weight-sum-100') opts.requireWeightSum100 = true;
    else if (flag === '--ready-delay-ms') opts.deploymentReadyDelayMs = Number(value());
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'usage: main.ts [--port N] [--kubeconfig PATH] [--require-weight-sum-100] [--ready-delay-ms N]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${a}`);
  }
  return opts;
}

const server = await KubeApiServer.start(parseArgs(process.argv.slice(2)));
process.stdout.write(`kube-api stand-in listening on ${server.url}\nKUBECONFIG=${server.kubeconfigPath}\n`);
const shutdown = () => {
  server.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
