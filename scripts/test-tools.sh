#!/usr/bin/env bash
# npm test's pretest: what the suites need beyond node_modules, so that the README's test command
# proves what CI proves. Each part reports why it is missing instead of failing the run: the
# suites that need it then report themselves skipped with that reason.
#  - helm and kubectl for the chart and cluster tests (scripts/fetch-tools.sh);
#  - a real kube-apiserver and etcd (envtest assets) in .cache/envtest, laid out by the
#    envtest kit beside the checkout when KUBEBUILDER_ASSETS does not name them already.
cd "$(dirname "$0")/.."
bash scripts/fetch-tools.sh || echo "helm and kubectl could not be fetched: the chart tests will report themselves skipped" >&2
if [[ -z "${KUBEBUILDER_ASSETS:-}" && -f ../shared/envtest/setup.sh ]]; then
  bash ../shared/envtest/setup.sh .cache/envtest >/dev/null || echo "the envtest assets could not be laid out: the envtest suites will report themselves skipped" >&2
fi
exit 0
