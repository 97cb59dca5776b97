#pragma once
// Reading a run directory's tables and drawing what they hold: training curves from
// metrics.csv and, for MoE runs, the expert statistics files.
#include <string>
#include <vector>

#include "metrics/plot/charts.h"

namespace engine::app {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  int column(const std::string& name) const;  // -1 when absent
  bool has(const std::string& name) const { return column(name) >= 0; }
  // The column as numbers; empty or unparsable cells (and a missing column) are NaN.
  std::vector<double> numbers(const std::string& name) const;
};

// Throws naming the file when it cannot be read or has no header.
CsvTable read_csv(const std::string& path);

// Loss, accuracy and ECE over epochs (train, test and validation where present), and
// one more panel per MoE column group when metrics.csv has them.
plot::Figure training_curves(const CsvTable& metrics, const std::string& run_name);

// "moe_layer3.moe" -> "layer3": the placement an MoE layer's full name stands for.
std::string short_layer_name(const std::string& layer);

// An expert x class table of slot counts [E][C] as a heatmap of each class's share of
// tokens per expert (columns sum to 1): specialised experts show as bright cells.
plot::Figure expert_class_heatmap(const std::vector<std::vector<double>>& counts,
                                  const std::vector<std::string>& class_names, const std::string& title);

// Draws the MoE statistics files of a run directory into plots_dir: the expert load
// (token fraction per expert, per layer) of the last epoch from moe_layers.csv, and
// the expert x class table of the last moe_expert_class_epoch<N>.csv, one heatmap per
// layer. Returns the paths written (none for a dense run).
std::vector<std::string> plot_moe_files(const std::string& run_dir, const std::string& plots_dir,
                                        const std::vector<std::string>& class_names = {});

}  // namespace engine::app
