#pragma once
// Atomic file replacement: the bytes go to a temporary file in the target's folder,
// which is fsynced, renamed over the target, and the folder fsynced. A reader (or a
// process restarted after a crash) sees either the old file or the complete new one,
// never a partial write. On any error the temporary file is removed and the old file
// is left as it was.
#include <cstddef>
#include <functional>
#include <string>

namespace engine::io {

// Streaming writer. Nothing is visible at `path` until commit(); destroying an
// uncommitted writer (an exception unwinding past it) discards the temporary file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t nbytes);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // fsync, close, rename over the target, fsync the folder.
  void commit();
  // Removes the temporary file; a no-op after commit() or a previous abort().
  void abort() noexcept;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  size_t bytes_written() const { return written_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  size_t written_ = 0;
  bool done_ = false;
};

void write_file_atomic(const std::string& path, const void* data, size_t nbytes);
void write_file_atomic(const std::string& path, const std::string& bytes);
// Runs `fill` on a writer and commits when it returns; an exception from `fill`
// discards the temporary file and propagates.
void write_file_atomic(const std::string& path, const std::function<void(AtomicFileWriter&)>& fill);

// Whole-file read; throws naming the path when the file cannot be read.
std::string read_file(const std::string& path);

// Fault injection for the tests of crash safety: every step that changes what a reader
// of the file system sees (an atomic write's temporary file complete, its rename, a
// link, a removal) calls crash_point. With ENGINE_CRASH_AT_STEP=N in the environment,
// the N-th call of the process prints "crash point N: <what>" to stderr and ends the
// process at once with _exit(86), as a kill -9 would: no destructor runs, nothing is
// flushed. Unset or 0: no effect (a counter). Steps are counted from 1.
void crash_point(const std::string& what);
// How many crash points the process has passed.
long crash_points_passed();
constexpr int kCrashExitCode = 86;

// fsync of a folder (after a rename or a link in it); a file system that refuses it
// on folders (EINVAL, EROFS) is not an error. `what` names the operation in the error.
void sync_folder(const std::string& dir, const std::string& what);

}  // namespace engine::io
