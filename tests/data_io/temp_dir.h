#pragma once
// A fresh folder under $TMPDIR (or /tmp) per test, removed with its contents at the end.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "base/check.h"

namespace engine::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names of the entries in the folder (without "." and "..").
  std::vector<std::string> list() const;

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes);
void write_gzip(const std::string& path, const std::string& bytes);
std::string read_bytes(const std::string& path);

}  // namespace engine::testing
