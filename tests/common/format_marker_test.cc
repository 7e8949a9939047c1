// CheckOrCreateFormat (src/common/format_marker.h): a new folder gets a marker, the same format
// opens again, another format, a damaged marker or an old store without a marker is refused
// with a message that says how to recover.
#include "src/common/format_marker.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vaultfs {
namespace {

namespace fs = std::filesystem;

const FormatMarker kWant{"test-store", 3, {"store.db", "objects"}};

class FormatMarkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-format-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string ReadMarker() {
    std::ifstream in(dir_ + "/FORMAT");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(FormatMarkerTest, NewFolderGetsAMarkerAndOpensAgain) {
  ASSERT_TRUE(CheckOrCreateFormat(dir_, kWant, "test folder").ok());
  EXPECT_EQ(ReadMarker(), "vaultfs test-store 3\n");
  EXPECT_FALSE(fs::exists(dir_ + "/FORMAT.tmp"));
  WriteFile("store.db", "x");  // the store now has content: the marker keeps it openable
  EXPECT_TRUE(CheckOrCreateFormat(dir_, kWant, "test folder").ok());
}

TEST_F(FormatMarkerTest, UnrelatedFilesDoNotMakeAFolderOld) {
  WriteFile("server-secret", "s");
  ASSERT_TRUE(CheckOrCreateFormat(dir_, kWant, "test folder").ok());
  EXPECT_EQ(ReadMarker(), "vaultfs test-store 3\n");
}

TEST_F(FormatMarkerTest, StoreWithoutMarkerIsRefusedAsOld) {
  fs::create_directory(dir_ + "/objects");
  Status st = CheckOrCreateFormat(dir_, kWant, "test folder");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), EPROTO);
  EXPECT_NE(st.message().find("before format markers"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("tools/mkcluster"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dir_ + "/FORMAT"));  // refused, not adopted
}

TEST_F(FormatMarkerTest, OtherVersionIsRefusedNamingBoth) {
  WriteFile("FORMAT", "vaultfs test-store 2\n");
  Status st = CheckOrCreateFormat(dir_, kWant, "test folder");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), EPROTO);
  EXPECT_NE(st.message().find("test folder holds a vaultfs test-store of format 2"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("reads only format 3"), std::string::npos) << st.message();
  EXPECT_EQ(ReadMarker(), "vaultfs test-store 2\n");  // never rewritten
}

TEST_F(FormatMarkerTest, OtherKindOrDamagedMarkerIsRefused) {
  for (const char* text :
       {"vaultfs data-store 3\n", "vaultfs test-store 3", "vaultfs test-store \n",
        "vaultfs test-store 3x\n", "vaultfs test-store 0\n", "",
        "vaultfs test-store 99999999999999999999\n"}) {
    WriteFile("FORMAT", text);
    Status st = CheckOrCreateFormat(dir_, kWant, "test folder");
    EXPECT_EQ(st.code(), EPROTO) << "marker '" << text << "': " << st.message();
  }
  WriteFile("FORMAT", std::string(4096, 'v'));
  EXPECT_EQ(CheckOrCreateFormat(dir_, kWant, "test folder").code(), EPROTO);
}

TEST_F(FormatMarkerTest, MissingFolderIsAnError) {
  Status st = CheckOrCreateFormat(dir_ + "/absent", kWant, "test folder");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.code(), EPROTO);
}

}  // namespace
}  // namespace vaultfs
