/* libFuzzer target: input lines (tools/input.c) as `ringfetch fetch -i`
 * reads them, from a file holding the fuzzer's bytes. Every byte is in
 * exactly one line or one line end; no line holds a newline; a line is
 * flagged too long exactly when it passed RF_LINE_MAX_BYTES, and then its
 * start is what is returned; trimming removes only spaces and tabs at the
 * start, and spaces, tabs and CRs at the end (a CRLF file's). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tools/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_input: %s\n", what);
    abort();
  }
}

static bool blank(char c) { return c == ' ' || c == '\t'; }
static bool blank_end(char c) { return blank(c) || c == '\r'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
  check(fd >= 0, "memfd_create");
  check(write(fd, data, size) == (ssize_t)size, "write");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  rf_input in;
  check(rf_input_open(&in, path) == 0, "rf_input_open");
  size_t at = 0; /* where the next line starts in data */
  for (;;) {
    char *line;
    size_t len;
    bool too_long = false;
    int rc = rf_input_line(&in, &line, &len, &too_long);
    check(rc != RF_LINE_ERR && rc != RF_LINE_AGAIN, "a file read failed or said again");
    if (rc == RF_LINE_EOF)
      break;
    const uint8_t *nl = memchr(data + at, '\n', size - at);
    size_t whole = nl ? (size_t)(nl - (data + at)) : size - at;
    check(memchr(line, '\n', len) == NULL, "a newline inside a line");
    check(too_long == (whole > RF_LINE_MAX_BYTES), "too_long wrong");
    check(too_long ? len <= whole : len == whole, "a line of the wrong length");
    check(memcmp(line, data + at, len) == 0, "a line that is not the bytes read");
    char *t = line;
    size_t tn = len;
    rf_trim(&t, &tn);
    check(t >= line && t + tn <= line + len, "trim went outside the line");
    for (char *c = line; c < t; c++)
      check(blank(*c), "trim removed a non-blank at the start");
    for (char *c = t + tn; c < line + len; c++)
      check(blank_end(*c), "trim removed a non-blank at the end");
    check(tn == 0 || (!blank(t[0]) && !blank_end(t[tn - 1])), "trim left a blank at an end");
    at += whole + (nl ? 1 : 0);
  }
  check(at == size, "bytes left unread at the end");
  rf_input_close(&in);
  close(fd);
  return 0;
}
