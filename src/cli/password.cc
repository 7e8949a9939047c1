// Password input: see password.h.
#include "src/cli/password.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "src/common/cluster_config.h"

namespace vaultfs::cli {
namespace {

std::string FirstLine(std::string text) {
  auto nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

Result<std::string> Prompt(const std::string& prompt) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) {
    return Status(ENOTTY,
                  "no password given: set VAULTFS_PASSWORD, use --password-file, or run in a "
                  "terminal");
  }
  int fd = fileno(tty);
  termios old{};
  bool restore = tcgetattr(fd, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::fputs(prompt.c_str(), tty);
  std::fflush(tty);
  std::string line;
  for (int c = std::fgetc(tty); c != EOF && c != '\n'; c = std::fgetc(tty)) {
    line.push_back(static_cast<char>(c));
  }
  if (restore) tcsetattr(fd, TCSAFLUSH, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  return line;
}

}  // namespace

Result<std::string> ReadPassword(const PasswordSource& src, const std::string& prompt,
                                 bool confirm) {
  std::string pw;
  if (!src.file.empty()) {
    VFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(src.file));
    pw = FirstLine(std::move(text));
  } else if (const char* env = std::getenv("VAULTFS_PASSWORD"); src.use_env && env != nullptr) {
    pw = env;
  } else {
    VFS_ASSIGN_OR_RETURN(pw, Prompt(prompt));
    if (confirm) {
      VFS_ASSIGN_OR_RETURN(std::string again, Prompt("again: "));
      if (again != pw) return InvalidArgument("the two passwords differ; nothing was changed");
    }
  }
  if (pw.empty()) return InvalidArgument("the password is empty");
  return pw;
}

}  // namespace vaultfs::cli
