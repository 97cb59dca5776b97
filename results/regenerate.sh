#!/bin/sh
# Regenerates RESULTS.md and RESULTS_curves.png at the repository root from the run
# summaries kept here (each run's config.json, metrics.csv, eval.json and plots; no
# checkpoints). tests/e2e/test_results_md.cpp runs this into a copy and fails when the
# committed RESULTS.md differs.
#   ENGINE_ROOT  the folder holding results/ (default: this script's repository)
#   REPORT_APP   the report_app to run (default: $ENGINE_ROOT/build/report_app)
set -e
root=${ENGINE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
app=${REPORT_APP:-$root/build/report_app}
cd "$root"
"$app" results/quickstart results/quickstart_moe results/quickstart_multimodal results/quickstart_multimodal_holdout --out RESULTS.md --note "Measured on a 2-vCPU AMD EPYC \
virtual machine (Zen 4, AVX-512; lscpu: family 25 model 17) without a GPU, CPU backend, f32. All runs were \
trained and evaluated while other jobs shared the machine, so img/s and wall time are lower bounds of what the \
CPU does alone; accuracy, NLL and ECE do not depend on it (CPU runs are reproducible: the same config gives the \
same numbers). Trained with \`build/train_app configs/quickstart_fashion_mnist.json\` and \
\`configs/quickstart_moe_fashion_mnist.json\`, evaluated with \`build/eval_app <run> --corruptions \
--corruption-images 2000\` (MoE evaluation dropless, the default). The multimodal runs: \
\`configs/quickstart_multimodal_fashion_mnist.json\` (trained with OMP_NUM_THREADS=1, evaluated as above) and \
\`configs/quickstart_multimodal_holdout_fashion_mnist.json\` (Sandal and Shirt never trained on; evaluated \
without corruptions): its held-out images score 0.75% over all 10 classes (chance 10%; the seen classes win) \
and 99.95% when only the two held-out classes compete (chance 50%), each told apart by its descriptions alone; \
with calibrated stacking (a shift taken off the seen classes' logits, chosen without labels so that 20% of the \
test images go to held-out classes) 35.30% over all 10 classes, the seen classes 80.23%."
