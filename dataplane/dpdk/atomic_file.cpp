#include "atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace anylb {

namespace {

constexpr const char* kSuffix = ".tmp-";
constexpr std::size_t kRandom = 6;  // mkstemp's XXXXXX

}  // namespace

bool write_all(int fd, const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_file_atomically(const std::string& path, const std::string& content, bool durable, mode_t mode) {
  std::string name = path + kSuffix + std::string(kRandom, 'X');
  std::vector<char> tmpl(name.begin(), name.end());
  tmpl.push_back('\0');
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return false;
  const std::string tmp(tmpl.data());
  // fchmod: the mode asked for, not what mkstemp's 0600 and the umask make.
  bool ok = ::fchmod(fd, mode) == 0 && write_all(fd, content + '\n');
  // Durable: on disk before it replaces the old file, and the rename with
  // it (the directory), so that a power cut leaves the old state or the
  // new one, never an empty file the next start refuses.
  ok = ok && (!durable || ::fsync(fd) == 0);
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  if (durable) {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return true;
}

bool is_temporary_of(const std::string& name, const std::string& file) {
  const std::string prefix = file + kSuffix;
  return name.size() == prefix.size() + kRandom && name.compare(0, prefix.size(), prefix) == 0;
}

std::size_t remove_leftover_temporaries(const std::string& path) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  const std::string file = p.filename().string();
  std::error_code ec;
  std::size_t removed = 0;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (is_temporary_of(it->path().filename().string(), file) && ::unlink(it->path().c_str()) == 0) ++removed;
  return removed;
}

}  // namespace anylb
