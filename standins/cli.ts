// `npm run standins`: the local cluster world as a standalone command, for trying the action or
// helm/kubectl by hand. Starts the Kubernetes API, the Istio gateway and the GitHub API stand-ins
// and prints the environment to use; stops on Ctrl-C.
import { KubeApiServer } from './kube-api/index.js';
import { GatewayServer } from './gateway/index.js';
import { GitHubApiServer } from './github-api/index.js';
import { TOOLS_DIR } from './world.js';

async function main(): Promise<void> {
  const kube = await KubeApiServer.start({
    requireWeightSum100: process.argv.includes('--require-weight-sum-100'),
  });
  const gateway = await GatewayServer.start({ kubeApiUrl: kube.url });
  const github = await GitHubApiServer.start();
  console.log(`# helm-canary stand-ins are up. In another shell:`);
  console.log(`export KUBECONFIG=${kube.kubeconfigPath}`);
  console.log(`export PATH=${TOOLS_DIR}:$PATH`);
  console.log(`export GITHUB_API_URL=${github.url}`);
  console.log(`# gateway: curl -H 'Host: <virtual service host>' ${gateway.url}/`);
  const stop = async () => {
    await gateway.stop();
    await github.stop();
    await kube.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
