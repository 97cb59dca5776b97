// encode_app [options] TEXT... | --file FILE
// Sentence embeddings of texts with a BERT text encoder (all-MiniLM-L6-v2 by default:
// scripts/fetch_text_encoder.sh DIR fetches it), written to a .npy or .csv file, and the
// cosine-similarity matrix of the texts printed.
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "apps/common/cli.h"
#include "apps/common/text_encoder.h"
#include "engine/io/atomic_file.h"
#include "engine/io/config.h"
#include "engine/io/npy.h"

using namespace engine;

namespace {

const char* kUsage =
    "usage: encode_app [options] TEXT [TEXT ...]\n"
    "       encode_app [options] --file FILE     (one text per line)\n"
    "  --model DIR          the model folder: config.json, model.safetensors, vocab.txt\n"
    "                       (default $ENGINE_TEXT_ENCODER_DIR; scripts/fetch_text_encoder.sh DIR fills one)\n"
    "  --device cpu|cuda    where to run (default cpu; cuda:N for another GPU)\n"
    "  --precision f32|bf16 bf16 runs the matrix products in bf16 (autocast); default f32\n"
    "  --batch N            texts per forward pass (default 32)\n"
    "  --out FILE           the embeddings [N, D]: FILE.npy (numpy) or FILE.csv (one row per text)\n"
    "  --quiet              do not print the similarity matrix\n"
    "Prints the cosine-similarity matrix of the texts (their embeddings are unit vectors).\n";

struct Options {
  app::TextEncoderOptions encoder;
  std::vector<std::string> texts;
  std::string file, out;
  bool quiet = false;
};

// Reads the lines of `path` (a trailing carriage return dropped) as texts.
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  ENGINE_CONFIG_CHECK(f.good(), "--file " << path << ": cannot be read");
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  ENGINE_CONFIG_CHECK(!lines.empty(), "--file " << path << " holds no lines: nothing to encode");
  return lines;
}

// Parses the command line into *o; returns -1 to go on, else the exit code.
int parse_args(int argc, char** argv, Options* o) {
  const char* env = std::getenv("ENGINE_TEXT_ENCODER_DIR");
  o->encoder.model_dir = env != nullptr ? env : "";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (app::is_help_flag(a)) {
      std::cout << kUsage;
      return 0;
    }
    const bool takes_value =
        a == "--model" || a == "--device" || a == "--precision" || a == "--batch" || a == "--out" || a == "--file";
    if (takes_value && i + 1 >= argc) {
      std::cerr << "encode_app: " << a << " needs a value\n" << kUsage;
      return 2;
    }
    if (a == "--model") {
      o->encoder.model_dir = argv[++i];
    } else if (a == "--device") {
      const std::string d = argv[++i];
      try {
        o->encoder.device = Device::parse(d);
      } catch (const Error&) {
        std::cerr << "encode_app: --device expects cpu, cuda or cuda:N, got '" << d << "'\n";
        return 2;
      }
    } else if (a == "--precision") {
      const std::string p = argv[++i];
      if (p != "f32" && p != "bf16") {
        std::cerr << "encode_app: --precision expects f32 or bf16, got '" << p << "'\n";
        return 2;
      }
      o->encoder.precision = p == "f32" ? DType::f32 : DType::bf16;
    } else if (a == "--batch") {
      std::string error;
      if (!app::parse_int(argv[++i], 1, 4096, &o->encoder.batch_size, &error)) {
        std::cerr << "encode_app: --batch expects " << error << "\n";
        return 2;
      }
    } else if (a == "--out") {
      o->out = argv[++i];
    } else if (a == "--file") {
      o->file = argv[++i];
    } else if (a == "--quiet") {
      o->quiet = true;
    } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
      std::cerr << "encode_app: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else {
      o->texts.push_back(a);
    }
  }
  return -1;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string csv_rows(const Tensor& emb) {
  const std::vector<float> v = emb.to_vector_as<float>();
  const int64_t n = emb.size(0), d = emb.size(1);
  std::ostringstream o;
  o << std::setprecision(9);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < d; ++c) o << v[size_t(r * d + c)] << (c + 1 < d ? "," : "\n");
  return o.str();
}

void write_embeddings(const std::string& path, const Tensor& emb) {
  if (ends_with(path, ".npy")) {
    io::save_npy(path, emb);
  } else {
    io::write_file_atomic(path, csv_rows(emb));
  }
}

// The texts' cosine similarities (dot products of unit rows), three decimals.
void print_similarity(const Tensor& emb) {
  const Tensor sim = ops::matmul(emb, emb.transpose(0, 1));
  const std::vector<float> v = sim.to_vector_as<float>();
  const int64_t n = emb.size(0);
  std::cout << "cosine similarity (" << n << " texts, " << emb.size(1) << " dimensions):\n";
  std::cout << std::fixed << std::setprecision(3);
  for (int64_t r = 0; r < n; ++r) {
    std::cout << std::setw(5) << r;
    for (int64_t c = 0; c < n; ++c) std::cout << " " << std::setw(6) << v[size_t(r * n + c)];
    std::cout << "\n";
  }
}

int run(Options& o) {
  if (!o.file.empty()) {
    std::vector<std::string> lines = read_lines(o.file);
    o.texts.insert(o.texts.end(), lines.begin(), lines.end());
  }
  if (!o.out.empty())
    ENGINE_CONFIG_CHECK(ends_with(o.out, ".npy") || ends_with(o.out, ".csv"),
                        "--out " << o.out << ": the name must end in .npy or .csv");
  app::TextEncoder encoder(o.encoder);
  const Tensor emb = encoder.encode(o.texts);
  if (!o.out.empty()) {
    write_embeddings(o.out, emb);
    std::cout << "wrote " << emb.size(0) << " x " << emb.size(1) << " embeddings to " << o.out << "\n";
  }
  if (!o.quiet) print_similarity(emb);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  if (o.texts.empty() && o.file.empty()) {
    std::cerr << "encode_app: no texts: give them as arguments or with --file FILE\n" << kUsage;
    return 2;
  }
  return app::run_guarded("encode_app", [&] { return run(o); });
}
