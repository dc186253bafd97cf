// A file replaced whole: both daemons' state files and the dataplane's
// counters file. Readers see the old file or the new one, never a part.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace anylb {

// Writes `content` (and a newline) to a new temporary file beside `path`,
// named `<path>.tmp-XXXXXX` by mkstemp (created O_EXCL: never a file or a
// symlink someone planted; no fixed name to plant one at), with `mode`
// whatever the umask, then renames it over `path` (rename replaces a
// symlink at `path`, it does not write through it). `durable`: the file and
// then its directory are fsynced, so a power cut leaves the old file or the
// new one. False, with no temporary left, on any failure.
bool write_file_atomically(const std::string& path, const std::string& content, bool durable = false,
                           mode_t mode = 0600);

// Writes all of `text` to `fd`, through short writes and EINTR; false on
// an error or end (a closed pipe's reader, a full disk).
bool write_all(int fd, const std::string& text);

// Whether `name` (a file name, no directory) is one of `file`'s temporaries.
bool is_temporary_of(const std::string& name, const std::string& file);

// Unlinks the temporaries a killed writer left beside `path` (unlink never
// follows a symlink). Called at start, before the first write: the writer
// is this process. Returns how many went.
std::size_t remove_leftover_temporaries(const std::string& path);

}  // namespace anylb
