// write_file_atomically: the mode asked for, a temporary name nobody can
// plant a link at, a symlink at the path replaced rather than written
// through; the temporaries a killed writer leaves, removed at start.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "atomic_file.hpp"

namespace anylb {
namespace {

namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/anylb-atomic-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  static mode_t mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode;
  }
  fs::path dir_;
};

TEST_F(AtomicFile, ModeIsTheOneAskedWhateverTheUmask) {
  const mode_t before = ::umask(0);  // mkstemp's 0600 with no umask; a loose mode must not leak in
  ASSERT_TRUE(write_file_atomically(path("state.json"), "{}", true));
  ::umask(0277);  // a tight one must not tighten 0644 either
  ASSERT_TRUE(write_file_atomically(path("counters.json"), "{}", false, 0644));
  ::umask(before);
  EXPECT_EQ(mode_of(path("state.json")) & 07777, 0600u);
  EXPECT_EQ(mode_of(path("counters.json")) & 07777, 0644u);
  EXPECT_EQ(read(path("state.json")), "{}\n");
  // Only the files: no temporary left beside them.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(AtomicFile, NeitherASymlinkAtTheOldTmpNameNorAtThePathIsFollowed) {
  std::ofstream(path("victim")) << "precious";
  std::ofstream(path("victim2")) << "precious too";
  fs::create_symlink(path("victim"), path("state.json.tmp"));  // the fixed name of before
  fs::create_symlink(path("victim2"), path("state.json"));
  ASSERT_TRUE(write_file_atomically(path("state.json"), "new", true));
  EXPECT_EQ(read(path("victim")), "precious");
  EXPECT_EQ(read(path("victim2")), "precious too");
  EXPECT_TRUE(fs::is_symlink(path("state.json.tmp")));
  EXPECT_FALSE(fs::is_symlink(path("state.json")));  // the rename replaced the link itself
  EXPECT_EQ(read(path("state.json")), "new\n");
  EXPECT_EQ(mode_of(path("state.json")) & 07777, 0600u);
}

TEST_F(AtomicFile, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  ASSERT_TRUE(write_file_atomically(path("state.json"), "old"));
  fs::create_directory(path("state.json.d"));
  EXPECT_FALSE(write_file_atomically(path("state.json.d"), "new"));  // rename onto a directory fails
  EXPECT_FALSE(write_file_atomically(path("no/such/dir/state.json"), "new"));
  EXPECT_EQ(read(path("state.json")), "old\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(AtomicFile, TemporariesAreNamedByTheFileAndSixRandomCharacters) {
  EXPECT_TRUE(is_temporary_of("state.json.tmp-a1B2c3", "state.json"));
  EXPECT_FALSE(is_temporary_of("state.json.tmp", "state.json"));
  EXPECT_FALSE(is_temporary_of("state.json.tmp-abc", "state.json"));
  EXPECT_FALSE(is_temporary_of("state.json.tmp-a1B2c3d", "state.json"));
  EXPECT_FALSE(is_temporary_of("other.json.tmp-a1B2c3", "state.json"));
  EXPECT_FALSE(is_temporary_of("state.json", "state.json"));
}

TEST_F(AtomicFile, LeftoversOfAKilledWriterAreRemovedAndNothingElse) {
  std::ofstream(path("victim")) << "precious";
  for (const char* name : {"state.json", "state.json.tmp-abcdef", "state.json.tmp-XYZ123", "state.json.tmp",
                           "other.json.tmp-abcdef"})
    std::ofstream(path(name)) << "x";
  fs::create_symlink(path("victim"), path("state.json.tmp-linked"));
  EXPECT_EQ(remove_leftover_temporaries(path("state.json")), 3u);
  EXPECT_EQ(read(path("victim")), "precious");  // the link went, not what it pointed at
  for (const char* name : {"state.json", "state.json.tmp", "other.json.tmp-abcdef", "victim"})
    EXPECT_TRUE(fs::exists(path(name))) << name;
  EXPECT_FALSE(fs::exists(path("state.json.tmp-abcdef")));
  EXPECT_FALSE(fs::is_symlink(path("state.json.tmp-linked")));
  EXPECT_EQ(remove_leftover_temporaries(path("missing-dir/state.json")), 0u);
}

}  // namespace
}  // namespace anylb
