#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/check.h"

namespace engine::io {
namespace {

std::string errno_str(int e) { return std::strerror(e); }

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void sync_dir(const std::string& dir, const std::string& target) {
  sync_folder(dir, "atomic write of '" + target + "': renamed, but");
}

long crash_at_step() {
  static const long at = [] {
    const char* v = std::getenv("ENGINE_CRASH_AT_STEP");
    if (!v || !*v) return 0L;
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(v, &end, 10);
    ENGINE_CHECK(errno == 0 && *end == '\0' && n >= 0,
                 "ENGINE_CRASH_AT_STEP='" << v << "': expected a whole number >= 0 (the crash point to stop at)");
    return n;
  }();
  return at;
}

std::atomic<long> crash_points{0};

}  // namespace

// Some file systems refuse fsync on a directory (EINVAL); their renames are as
// durable as they get, so that is not an error.
void sync_folder(const std::string& dir, const std::string& what) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ENGINE_CHECK(fd >= 0, what << " cannot open folder '" << dir << "' to sync it: " << errno_str(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  ENGINE_CHECK(rc == 0 || e == EINVAL || e == EROFS,
               what << " syncing folder '" << dir << "' failed: " << errno_str(e));
}

void crash_point(const std::string& what) {
  long n = ++crash_points;
  if (n != crash_at_step()) return;
  std::string line = "crash point " + std::to_string(n) + ": " + what + "\n";
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  ::_exit(kCrashExitCode);
}

long crash_points_passed() { return crash_points.load(); }

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
  ENGINE_CHECK(!path.empty(), "atomic write: empty path");
  // Unique per process and call, hidden, and in the target's folder so that the
  // rename stays within one file system.
  static std::atomic<uint64_t> counter{0};
  std::string dir = parent_dir(path);
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    std::ostringstream name;
    name << dir << "/." << base_name(path) << ".tmp." << ::getpid() << "." << counter.fetch_add(1);
    temp_path_ = name.str();
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && errno != EEXIST) break;
  }
  ENGINE_CHECK(fd_ >= 0, "cannot write '" << path << "': creating temporary file '" << temp_path_
                                          << "' failed: " << errno_str(errno));
}

AtomicFileWriter::~AtomicFileWriter() { abort(); }

void AtomicFileWriter::write(const void* data, size_t nbytes) {
  ENGINE_CHECK(!done_, "cannot write '" << path_ << "': the atomic writer is already closed");
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    ssize_t n = ::write(fd_, p, nbytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      abort();
      ENGINE_THROW("cannot write '" << path_ << "': writing the temporary file failed after " << written_
                                    << " bytes: " << errno_str(e) << "; the previous file is unchanged");
    }
    p += n;
    nbytes -= size_t(n);
    written_ += size_t(n);
  }
}

void AtomicFileWriter::commit() {
  ENGINE_CHECK(!done_, "cannot write '" << path_ << "': the atomic writer is already closed");
  if (::fsync(fd_) != 0) {
    int e = errno;
    abort();
    ENGINE_THROW("cannot write '" << path_ << "': fsync of the temporary file failed: " << errno_str(e)
                                  << "; the previous file is unchanged");
  }
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    int e = errno;
    abort();
    ENGINE_THROW("cannot write '" << path_ << "': closing the temporary file failed: " << errno_str(e)
                                  << "; the previous file is unchanged");
  }
  crash_point("'" + path_ + "' written to its temporary file, not yet renamed");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    abort();
    ENGINE_THROW("cannot write '" << path_ << "': renaming the temporary file over it failed: " << errno_str(e)
                                  << "; the previous file is unchanged");
  }
  done_ = true;
  sync_dir(parent_dir(path_), path_);
  crash_point("'" + path_ + "' renamed into place");
}

void AtomicFileWriter::abort() noexcept {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

void write_file_atomic(const std::string& path, const void* data, size_t nbytes) {
  AtomicFileWriter w(path);
  w.write(data, nbytes);
  w.commit();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

void write_file_atomic(const std::string& path, const std::function<void(AtomicFileWriter&)>& fill) {
  AtomicFileWriter w(path);
  fill(w);
  w.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ENGINE_CHECK(in.good(), "cannot open '" << path << "': " << errno_str(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  ENGINE_CHECK(!in.bad(), "cannot read '" << path << "'");
  return ss.str();
}

}  // namespace engine::io
