// Section 7: Flagger's and Argo Rollouts' time to rollback at their documented defaults, computed
// from their docs (not measured), beside ours from section 1.
import type { Section } from './section.js';
import { table } from './stats-helper.js';

export const anchors: Section = {
  id: 'anchors',
  title: '7. Beside the anchors (computed from their docs)',
  async run(ctx) {
    const ours = ctx.results.safety ?? 'run section `safety` for our measured figure';
    return [
      table(
        ['tool', 'documented settings', 'time to rollback (computed)', 'source'],
        [
          [
            'Flagger',
            '`interval: 1m` ("schedule interval (default 60s)"), `threshold: 10` failed checks',
            '**10 min** (interval × threshold; Istio tutorial, `threshold: 5`: 5 min)',
            'https://docs.flagger.app/usage/deployment-strategies (formula `interval * threshold`); https://docs.flagger.app/tutorials/istio-progressive-delivery',
          ],
          [
            'Argo Rollouts',
            'background analysis example: `interval: 5m`, `failureLimit: 3`, Prometheus `[5m]` window',
            '**15 min** (interval × failure limit)',
            'https://argo-rollouts.readthedocs.io/en/stable/features/analysis/',
          ],
          [
            'helm-canary (measured, section 1)',
            'defaults (`precheck: 30s`, `verify-rps: 5`)',
            ours,
            'this file',
          ],
        ],
        ['---', '---', '---', '---'],
      ),
      '',
      'The anchors are labelled computed: their rollback is driven by metric queries every interval, so the figure ' +
        'is the documented interval times the allowed failures, not a measurement here (no Kubernetes cluster or ' +
        'Prometheus is available on this machine).',
    ].join('\n');
  },
};
