/* robots.txt (RFC 9309): the RFC's examples, group selection, longest
 * match, '*' and '$', percent-encoding, /robots.txt, Crawl-delay, line ends,
 * BOM and comments, the 512 KiB input limit, hostile patterns (timed), and a
 * cross-check of the matcher against a slow reference on random patterns.
 * The robots.txt text and every target end at a guard page, so reading one
 * byte past either crashes (run under ASan too). */
#include <stdbool.h>
#include <time.h>

#include "proto/robots.h"
#include "testutil.h"
#include "robots_ref.h"

/* Parses txt[0..n) copied to the end of a guard page. */
static rf_robots *parse_n(const char *txt, size_t n, const char *agent) {
  tu_guard g;
  char *p = tu_guard_copy(&g, txt, n);
  rf_robots *r = rf_robots_parse(p, n, agent);
  tu_guard_free(&g);
  CHECK(r != NULL);
  return r;
}

static rf_robots *parse(const char *txt, const char *agent) {
  return parse_n(txt, strlen(txt), agent);
}

/* rf_robots_allowed with the target ending at a guard page. */
static bool allowed_n(const rf_robots *r, const char *t, size_t n) {
  tu_guard g;
  char *p = tu_guard_copy(&g, t, n);
  bool ok = rf_robots_allowed(r, p, n);
  tu_guard_free(&g);
  return ok;
}

static bool allowed(const rf_robots *r, const char *t) { return allowed_n(r, t, strlen(t)); }

/* Each target in the NULL-terminated lists is allowed / disallowed. */
#define EXPECT(r, want, ...)                                                                       \
  do {                                                                                             \
    const char *const ex_t_[] = {__VA_ARGS__, NULL};                                               \
    for (size_t ex_i_ = 0; ex_t_[ex_i_]; ex_i_++)                                                  \
      CHECKF(allowed((r), ex_t_[ex_i_]) == (want), "%s should be %s", ex_t_[ex_i_],               \
             (want) ? "allowed" : "disallowed");                                                   \
  } while (0)
#define ALLOWED(r, ...) EXPECT(r, true, __VA_ARGS__)
#define DISALLOWED(r, ...) EXPECT(r, false, __VA_ARGS__)

/* ---- RFC 9309 --------------------------------------------------------------- */

/* Section 5.1, the simple example. */
static const char rfc_simple[] = "User-Agent: *\n"
                                 "Disallow: *.gif$\n"
                                 "Disallow: /example/\n"
                                 "Allow: /publications/\n"
                                 "\n"
                                 "User-Agent: foobot\n"
                                 "Disallow:/\n"
                                 "Allow:/example/page.html\n"
                                 "Allow:/example/allowed.gif\n"
                                 "\n"
                                 "User-Agent: barbot\n"
                                 "User-Agent: bazbot\n"
                                 "Disallow: /example/page.html\n"
                                 "\n"
                                 "User-Agent: quxbot\n"
                                 "\n"
                                 "EOF\n";

static void test_rfc_simple(void) {
  rf_robots *r = parse(rfc_simple, "foobot");
  CHECK_EQ_INT(rf_robots_rule_count(r), 3);
  ALLOWED(r, "/example/page.html", "/example/allowed.gif", "/robots.txt");
  DISALLOWED(r, "/", "/example/", "/example/page.htm", "/example/other.gif", "/publications/");
  rf_robots_free(r);

  for (int k = 0; k < 2; k++) { /* barbot and bazbot share the group */
    r = parse(rfc_simple, k ? "bazbot" : "barbot");
    CHECK_EQ_INT(rf_robots_rule_count(r), 1);
    ALLOWED(r, "/", "/example/", "/example/page.htm", "/x.gif", "/publications/");
    DISALLOWED(r, "/example/page.html", "/example/page.html?x=1", "/example/page.html/more");
    rf_robots_free(r);
  }

  /* quxbot's group has no rules: everything is allowed, "*" does not apply */
  r = parse(rfc_simple, "quxbot");
  CHECK_EQ_INT(rf_robots_rule_count(r), 0);
  ALLOWED(r, "/", "/example/", "/x.gif", "/example/page.html");
  rf_robots_free(r);

  /* anyone else: the "*" group */
  r = parse(rfc_simple, "otherbot");
  CHECK_EQ_INT(rf_robots_rule_count(r), 3);
  ALLOWED(r, "/", "/publications/", "/publications/x.html", "/example", "/x.gif?size=1",
          "/x.gifs", "/x.GIF", "/publications/x.gif" /* 14 octets beat 6 */);
  DISALLOWED(r, "/example/", "/example/a.html", "/x.gif", "/a/b/c.gif", "/example/allowed.gif");
  rf_robots_free(r);
}

/* Section 5.2, longest match. */
static void test_rfc_longest(void) {
  rf_robots *r = parse("User-Agent: foobot\n"
                       "Allow: /example/page/\n"
                       "Disallow: /example/page/disallowed.gif\n",
                       "foobot");
  ALLOWED(r, "/example/page/", "/example/page/a.gif", "/example/page/disallowed.gi",
          "/example/pag", "/");
  DISALLOWED(r, "/example/page/disallowed.gif", "/example/page/disallowed.gif?x",
             "/example/page/disallowed.gifs");
  rf_robots_free(r);
}

/* Sections 2.2.2 and 2.2.3: the encoding tables and the special characters. */
static void test_rfc_encoding_tables(void) {
  rf_robots *r = parse("user-agent: *\n"
                       "disallow: /foo/bar?baz=quz\n"
                       "disallow: /foo/bar/\xE3\x83\x84\n"   /* U+30C4, raw UTF-8 */
                       "disallow: /foo/baz/%E3%83%84\n"      /* the same, encoded */
                       "disallow: /foo/qux/%62%61%7A\n"      /* "baz" */
                       "disallow: /path/file-with-a-%2A.html\n"
                       "disallow: /path/foo-%24\n",
                       "ringfetch");
  DISALLOWED(r, "/foo/bar?baz=quz", "/foo/bar?baz=quz&x", "/foo/bar/%E3%83%84",
             "/foo/bar/%e3%83%84x", "/foo/bar/\xE3\x83\x84", "/foo/baz/\xE3\x83\x84",
             "/foo/baz/%e3%83%84", "/foo/qux/baz", "/foo/qux/%62az", "/foo/qux/%62%61%7a",
             "/path/file-with-a-*.html", "/path/file-with-a-%2A.html",
             "/path/file-with-a-%2a.html", "/path/foo-$", "/path/foo-%24");
  ALLOWED(r, "/foo/bar?baz=qu", "/foo/bar/%E3%83", "/foo/qux/ba", "/foo/qux/BAZ",
          "/path/file-with-a-x.html", "/path/file-with-a-.html", "/path/foo-", "/path/foo-x");
  rf_robots_free(r);

  /* the table of 2.2.3 */
  r = parse("user-agent: *\nallow: /this/path/exactly$\ndisallow: /this/\n", NULL);
  ALLOWED(r, "/this/path/exactly");
  DISALLOWED(r, "/this/path/exactly/", "/this/path/exactly?x", "/this/path/exactlyy");
  rf_robots_free(r);
  r = parse("user-agent: *\nallow: /this/*/exactly\ndisallow: /this/\n", NULL);
  ALLOWED(r, "/this/a/exactly", "/this/a/b/c/exactly", "/this//exactly", "/this/x/exactly/more");
  DISALLOWED(r, "/this/exactly", "/this/a/exact", "/this/");
  rf_robots_free(r);
}

/* Section 2.2.1: merging groups with the same agent, case-insensitively. */
static void test_rfc_merge(void) {
  rf_robots *r = parse("user-agent: ExampleBot\n"
                       "disallow: /foo\n"
                       "disallow: /bar\n"
                       "\n"
                       "user-agent: *\n"
                       "disallow: /star\n"
                       "\n"
                       "user-agent: EXAMPLEBOT\n"
                       "disallow: /baz\n",
                       "examplebot");
  CHECK_EQ_INT(rf_robots_rule_count(r), 3);
  DISALLOWED(r, "/foo", "/bar", "/baz/x");
  ALLOWED(r, "/star", "/", "/qux");
  rf_robots_free(r);
}

/* ---- group selection -------------------------------------------------------- */

/* Which User-agent values name the product token. */
static void test_group_tokens(void) {
  static const char txt[] = "User-agent: *\n"
                            "Disallow: /all\n"
                            "Crawl-delay: 7\n"
                            "\n"
                            "User-agent: ringfetch/1.0\n"
                            "Disallow: /rf\n"
                            "\n"
                            "User-agent: otherbot\n"
                            "Disallow: /other\n";
  const char *const agents[] = {"ringfetch", "RingFetch", "RINGFETCH", "ringfetch/2.3",
                                "ringfetch (+https://x.example/bot)"};
  for (size_t i = 0; i < sizeof agents / sizeof agents[0]; i++) {
    rf_robots *r = parse(txt, agents[i]);
    CHECKF(!allowed(r, "/rf") && allowed(r, "/all") && allowed(r, "/other"), "agent %s",
           agents[i]);
    CHECK(rf_robots_crawl_delay(r) == 0); /* a specific group replaces "*" entirely */
    rf_robots_free(r);
  }
  /* tokens that are not "ringfetch": the "*" group */
  const char *const others[] = {"ringfetchbot", "ring", "ringfetch_x", "ringfetch-x", "", NULL,
                                "/ringfetch", "*"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    rf_robots *r = parse(txt, others[i]);
    CHECKF(allowed(r, "/rf") && !allowed(r, "/all") && allowed(r, "/other"), "agent %s",
           others[i] ? others[i] : "(null)");
    CHECK(rf_robots_crawl_delay(r) == 7);
    rf_robots_free(r);
  }

  /* values in the file: the leading token characters count, case-insensitively */
  const char *const names[] = {"RINGFETCH", "RingFetch/1.0", "ringfetch (compatible)",
                               "ringfetch\t", "ringfetch*", "ringfetch;v=2"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "User-agent: *\nDisallow: /\n\nUser-agent: %s\nDisallow: /x\n",
             names[i]);
    rf_robots *r = parse(buf, "ringfetch");
    CHECKF(allowed(r, "/") && !allowed(r, "/x"), "User-agent: %s", names[i]);
    rf_robots_free(r);
  }
  const char *const not_names[] = {"ringfetchbot", "ring fetch", "xringfetch", "ring", "*bot",
                                   "Mozilla/5.0 ringfetch", ""};
  for (size_t i = 0; i < sizeof not_names / sizeof not_names[0]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "User-agent: %s\nDisallow: /x\n\nUser-agent: *\nDisallow: /\n",
             not_names[i]);
    rf_robots *r = parse(buf, "ringfetch");
    CHECKF(!allowed(r, "/") && !allowed(r, "/y"), "User-agent: %s", not_names[i]);
    rf_robots_free(r);
  }

}

/* Which groups apply, and where groups begin and end. */
static void test_group_structure(void) {
  /* no matching group and no "*": nothing is disallowed */
  rf_robots *r = parse("User-agent: otherbot\nDisallow: /\n", "ringfetch");
  CHECK_EQ_INT(rf_robots_rule_count(r), 0);
  ALLOWED(r, "/", "/x");
  rf_robots_free(r);

  /* a specific group without rules still replaces "*" */
  r = parse("User-agent: *\nDisallow: /\nUser-agent: ringfetch\n", "ringfetch");
  CHECK_EQ_INT(rf_robots_rule_count(r), 0);
  ALLOWED(r, "/", "/x");
  rf_robots_free(r);
  r = parse("User-agent: *\nDisallow: /\nUser-agent: ringfetch\nDisallow:\n", "ringfetch");
  ALLOWED(r, "/", "/x");
  rf_robots_free(r);

  /* several "*" groups merge too */
  r = parse("User-agent: *\nDisallow: /a\n\nUser-agent: x\nDisallow: /x\n"
            "User-agent: *\nDisallow: /b\n",
            "ringfetch");
  DISALLOWED(r, "/a", "/b");
  ALLOWED(r, "/x", "/c");
  rf_robots_free(r);

  /* a group naming both "*" and the token is the token's; with another
   * group of the token, the two merge */
  r = parse("User-agent: *\nUser-agent: ringfetch\nDisallow: /both\n\n"
            "User-agent: *\nDisallow: /star\n\n"
            "User-agent: ringfetch\nDisallow: /rf\n",
            "ringfetch");
  DISALLOWED(r, "/both", "/rf");
  ALLOWED(r, "/star");
  rf_robots_free(r);
  r = parse("User-agent: *\nUser-agent: ringfetch\nDisallow: /both\n\n"
            "User-agent: *\nDisallow: /star\n",
            "otherbot");
  DISALLOWED(r, "/both", "/star");
  rf_robots_free(r);

  /* ... but User-agent lines with only blank lines between them are one
   * group (RFC 9309's ABNF: startgroupline *(startgroupline / emptyline)) */
  r = parse("User-agent: ringfetch\n\nUser-agent: *\nDisallow: /\n", "ringfetch");
  CHECK_EQ_INT(rf_robots_rule_count(r), 1);
  DISALLOWED(r, "/", "/x");
  rf_robots_free(r);

  /* a User-agent line after a rule starts a new group; blank, comment and
   * unknown lines between User-agent lines do not */
  r = parse("User-agent: a\nDisallow: /a\nUser-agent: ringfetch\nDisallow: /rf\n", "ringfetch");
  DISALLOWED(r, "/rf");
  ALLOWED(r, "/a");
  rf_robots_free(r);
  r = parse("User-agent: ringfetch\n\n# comment\nSitemap: https://x/s.xml\nnonsense\n"
            "User-agent: a\nDisallow: /shared\n",
            "ringfetch");
  DISALLOWED(r, "/shared");
  rf_robots_free(r);
  r = parse("User-agent: ringfetch\nDisallow: /one\n\n\nDisallow: /two\n"
            "Sitemap: https://x/s.xml\nDisallow: /three\n",
            "ringfetch");
  DISALLOWED(r, "/one", "/two", "/three");
  rf_robots_free(r);
  /* Crawl-delay is a rule of the group: a User-agent line after it starts
   * a new one */
  r = parse("User-agent: ringfetch\nCrawl-delay: 3\nUser-agent: b\nDisallow: /b\n", "ringfetch");
  ALLOWED(r, "/b");
  CHECK(rf_robots_crawl_delay(r) == 3);
  rf_robots_free(r);

  /* rules before any User-agent line are ignored */
  r = parse("Disallow: /early\nCrawl-delay: 9\nUser-agent: *\nDisallow: /late\n", "ringfetch");
  ALLOWED(r, "/early");
  DISALLOWED(r, "/late");
  CHECK(rf_robots_crawl_delay(r) == 0);
  rf_robots_free(r);

  /* only the selected rules are kept */
  r = parse("User-agent: a\nDisallow: /1\nDisallow: /2\nUser-agent: *\nDisallow: /3\n"
            "User-agent: b\nDisallow: /4\n",
            "ringfetch");
  CHECK_EQ_INT(rf_robots_rule_count(r), 1);
  rf_robots_free(r);
}

/* ---- matching ------------------------------------------------------------- */

static void test_longest_and_tie(void) {
  rf_robots *r = parse("User-agent: *\n"
                       "Disallow: /a\n"
                       "Allow: /a/b\n"
                       "Disallow: /a/b/c\n"
                       "Allow: /page\n"
                       "Disallow: /page\n"   /* a tie: Allow wins */
                       "Disallow: /tie$\n"
                       "Allow: /tie*\n"      /* 5 octets each: Allow wins */
                       "Allow: /x/%7E\n"     /* "/x/~" once normalised: 4 octets */
                       "Disallow: /x/~\n"    /* 4 too: Allow wins */
                       "Disallow: /x/%41\n", /* "/x/A" */
                       "ringfetch");
  DISALLOWED(r, "/a", "/ab", "/a/", "/a/b/c", "/a/b/cd", "/x/A");
  ALLOWED(r, "/a/b", "/a/bc", "/a/b/", "/page", "/pages", "/tie", "/ties", "/x/~", "/x/%7e",
          "/x/%7E");
  rf_robots_free(r);

  /* the longer pattern wins even when it is the more general */
  r = parse("User-agent: *\nAllow: /folder/*.html\nDisallow: /folder/\n", NULL);
  ALLOWED(r, "/folder/a.html", "/folder/x/y.html?q");
  DISALLOWED(r, "/folder/a.htm", "/folder/");
  rf_robots_free(r);
  r = parse("User-agent: *\nAllow: /$\nDisallow: /\n", NULL);
  ALLOWED(r, "/");
  DISALLOWED(r, "/?x", "/a");
  rf_robots_free(r);
}

static void test_patterns(void) {
  struct {
    const char *pattern;
    const char *match[8];
    const char *no[8];
  } t[] = {
      {"/", {"/", "/a", "/a/b?c"}, {NULL}},
      {"/*", {"/", "/a", "/a/b?c"}, {NULL}},
      {"/$", {"/"}, {"/a", "/?x"}},
      {"/fish",
       {"/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fishheads/yummy.html",
        "/fish.php?id=anything"},
       {"/Fish.asp", "/catfish", "/?id=fish", "/desert/fish"}},
      {"/fish*",
       {"/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fish.php?id=anything"},
       {"/Fish.asp", "/catfish", "/?id=fish"}},
      {"/fish/",
       {"/fish/", "/fish/?id=anything", "/fish/salmon.htm"},
       {"/fish", "/fish.html", "/animals/fish/", "/Fish/Salmon.asp"}},
      {"/*.php",
       {"/index.php", "/filename.php", "/folder/filename.php", "/folder/filename.php?parameters",
        "/folder/any.php.file.html", "/filename.php/"},
       {"/", "/windows.PHP"}},
      {"/*.php$",
       {"/filename.php", "/folder/filename.php", "/a.php.php"},
       {"/filename.php?parameters", "/filename.php/", "/filename.php5", "/windows.PHP"}},
      {"/fish*.php",
       {"/fish.php", "/fishheads/catfish.php?parameters"},
       {"/Fish.PHP", "/fis.php"}},
      {"*.gif$", {"/a.gif", "/b/c.gif", "/.gif"}, {"/a.gif?x", "/a.gifx", "/a.GIF"}},
      {"*", {"/", "/anything"}, {NULL}},
      {"*$", {"/", "/anything"}, {NULL}},
      {"/**a**b**$", {"/ab", "/xaxbx/b", "/aab", "/abx"}, {"/a", "/ba", "/"}},
      {"/a*b*c", {"/abc", "/aXbYc", "/abbbc", "/abcabc", "/a/b/c/d"}, {"/ab", "/acb", "/xabc"}},
      {"/a*b*c$", {"/abc", "/aXbYc", "/abcbc", "/acbc"}, {"/abcd", "/ab", "/abcx"}},
      {"/a$b", {"/a$b", "/a%24b", "/a$bc"}, {"/ab", "/a"}}, /* '$' not at the end: a character */
      {"/a$$", {"/a$"}, {"/a$x", "/a", "/a%"}},
      {"/aab*aab$",
       {"/aabaab", "/aab_aab", "/aabaaab", "/aabaabaab"},
       {"/aabaa", "/aab", "/aabab"}},
      {"/x*abab$", {"/xabab", "/xaabab", "/xababab", "/xabaabab"}, {"/xaba", "/xababa"}},
      {"/?", {"/?", "/?a"}, {"/", "/a"}},
      {"/a?b=1", {"/a?b=1", "/a?b=10"}, {"/a?b=2", "/a", "/a%3Fb=1"}},
      {"/*?", {"/x?", "/?", "/a/b?c"}, {"/", "/a%3Fb"}},
      {"/*?*sid=", {"/x?sid=1", "/x?a=1&sid=2"}, {"/x?a=1", "/sid=1"}},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "User-agent: *\nDisallow: %s\n", t[i].pattern);
    rf_robots *r = parse(buf, "ringfetch");
    for (size_t k = 0; k < 8 && t[i].match[k]; k++)
      CHECKF(!allowed(r, t[i].match[k]), "%s should match %s", t[i].pattern, t[i].match[k]);
    for (size_t k = 0; k < 8 && t[i].no[k]; k++)
      CHECKF(allowed(r, t[i].no[k]), "%s should not match %s", t[i].pattern, t[i].no[k]);
    rf_robots_free(r);
  }
}

static void test_percent(void) {
  rf_robots *r = parse("User-agent: *\n"
                       "Disallow: /%7Efoo\n"
                       "Disallow: /a%2fb\n"
                       "Disallow: /c/d\n"
                       "Disallow: /%C3%A4\n"
                       "Disallow: /sp ace\n"
                       "Disallow: /pct%zz\n"
                       "Disallow: /%41%42\n"
                       "Disallow: /q?u=%2F\n",
                       "ringfetch");
  /* unreserved: the same either way */
  DISALLOWED(r, "/~foo", "/%7Efoo", "/%7efoo", "/~foo/bar", "/AB", "/%41B", "/A%42", "/%41%42");
  ALLOWED(r, "/~fo", "/%7Efo", "/ab", "/%61%62");
  /* reserved: "/a%2fb" is not "/a/b", and "/c%2Fd" is not "/c/d" */
  DISALLOWED(r, "/a%2fb", "/a%2Fb", "/a%2Fbc", "/c/d");
  ALLOWED(r, "/a/b", "/c%2Fd", "/c%2fd");
  /* non-ASCII: raw or encoded in either case */
  DISALLOWED(r, "/\xC3\xA4", "/%c3%a4", "/%C3%A4", "/%c3\xA4x");
  ALLOWED(r, "/\xC3", "/%C3", "/%C3%A5");
  /* a space in a value compares as %20, a lone '%' as %25 */
  DISALLOWED(r, "/sp%20ace", "/sp ace", "/pct%25zz", "/pct%zz");
  ALLOWED(r, "/sp+ace", "/spXace", "/pctzz");
  /* a query keeps its reserved characters apart too */
  DISALLOWED(r, "/q?u=%2F", "/q?u=%2f");
  ALLOWED(r, "/q?u=/");
  rf_robots_free(r);
  /* octet by octet: a '*' may end inside a %XX */
  r = parse("User-agent: *\nDisallow: /a*2F\nDisallow: /*F$\nDisallow: /b/*%2F\n", NULL);
  DISALLOWED(r, "/a%2F", "/a%2f", "/ax2F", "/x%2F", "/x%2f", "/x/F", "/b/%2F", "/b/x%2fy",
             "/b/F", "/x%46" /* "/xF" */);
  ALLOWED(r, "/a/", "/x/", "/x%2Fy", "/b/x/", "/b/f", "/x%2F%2f/");
  rf_robots_free(r);
  /* a truncated escape at the very end of the target (guard page behind) */
  r = parse("User-agent: *\nDisallow: /x%25\nDisallow: /y%\n", NULL);
  DISALLOWED(r, "/x%", "/x%2", "/x%25", "/y%", "/y%4");
  ALLOWED(r, "/x", "/y", "/y%41");
  rf_robots_free(r);
}

static void test_query_and_robots_txt(void) {
  rf_robots *r = parse("User-agent: *\nDisallow: /\nAllow: /search$\nDisallow: /*?\n", "rf");
  DISALLOWED(r, "/", "/a", "/search?q=1", "/searchx");
  ALLOWED(r, "/search");
  /* /robots.txt is always allowed */
  ALLOWED(r, "/robots.txt", "/robots.txt?x=1", "/%72obots.txt", "/robots%2etxt");
  DISALLOWED(r, "/robots.txt/x", "/robots.txtx", "/robots.TXT", "/Robots.txt", "/robots.tx",
             "/x/robots.txt", "/robots.txt%3Fx");
  rf_robots_free(r);
  r = rf_robots_disallow_all();
  ALLOWED(r, "/robots.txt", "/robots.txt?a");
  DISALLOWED(r, "/", "/x", "/robots");
  CHECK(rf_robots_crawl_delay(r) == 0);
  CHECK_EQ_INT(rf_robots_rule_count(r), 1);
  rf_robots_free(r);
  r = rf_robots_allow_all();
  ALLOWED(r, "/", "/x", "/robots.txt");
  CHECK(rf_robots_crawl_delay(r) == 0);
  CHECK_EQ_INT(rf_robots_rule_count(r), 0);
  rf_robots_free(r);
  rf_robots_free(NULL);
  /* calling them again gives working objects again */
  CHECK(!rf_robots_allowed(rf_robots_disallow_all(), "/a", 2));
  CHECK(rf_robots_allowed(rf_robots_allow_all(), "/a", 2));
  /* an empty target is "/"; NULL with length 0 too */
  r = parse("User-agent: *\nDisallow: /$\n", NULL);
  CHECK(!rf_robots_allowed(r, NULL, 0));
  CHECK(!rf_robots_allowed(r, "", 0));
  CHECK(rf_robots_allowed(r, "/a", 2));
  /* a target that is not NUL-terminated: only len bytes count */
  CHECK(!rf_robots_allowed(r, "/abc", 1));
  rf_robots_free(r);
  /* NULL robots: everything allowed */
  CHECK(rf_robots_allowed(NULL, "/x", 2));
  CHECK(rf_robots_crawl_delay(NULL) == 0);
}

/* ---- syntax ----------------------------------------------------------------- */

static void test_crawl_delay(void) {
  struct {
    const char *v;
    double want;
  } t[] = {
      {"10", 10},  {"0.5", 0.5}, {".5", 0.5},   {"2.", 2},      {"  3  ", 3},   {"10s", 10},
      {"1.25", 1.25}, {"0", 0},  {"-1", 0},     {"abc", 0},     {"inf", 0},     {"nan", 0},
      {"", 0},     {"60", 60},   {"61", 60},    {"3600", 60},   {"99999999999999999999999", 60},
      {"59.999", 59.999}, {"1e3", 1}, {".", 0}, {"+5", 0},      {"007", 7},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "User-agent: *\nCrawl-delay: %s\n", t[i].v);
    rf_robots *r = parse(buf, "ringfetch");
    double d = rf_robots_crawl_delay(r);
    CHECKF(d > t[i].want - 1e-9 && d < t[i].want + 1e-9, "Crawl-delay: %s -> %g, want %g",
           t[i].v, d, t[i].want);
    rf_robots_free(r);
  }
  /* the largest wins, across merged groups too; key spellings */
  rf_robots *r = parse("User-agent: ringfetch\ncrawl-delay: 2\nCRAWL-DELAY : 5\n"
                       "crawl_delay: 1\n\nUser-agent: *\nCrawl-delay: 30\n\n"
                       "User-agent: ringfetch\nCrawldelay: 4.5\n",
                       "ringfetch");
  CHECK(rf_robots_crawl_delay(r) == 5);
  rf_robots_free(r);
  r = parse("User-agent: ringfetch\nCrawl-delay: 2 # seconds\nCrawl-delay: 8.5\n", "ringfetch");
  CHECK(rf_robots_crawl_delay(r) == 8.5);
  rf_robots_free(r);
}

static void test_syntax(void) {
  /* keys: case, spaces around ':', spellings */
  rf_robots *r = parse("USER-AGENT:*\n"
                       "disallow : /a\n"
                       "\tDisAllow\t:\t/b\t\n"
                       "  ALLOW:/b/c  \n"
                       "Disalow: /d\n"
                       "Dissallow: /e\n"
                       "user agent: x\n" /* "user agent" is User-agent: a new group */
                       "Disallow: /x\n",
                       "ringfetch");
  DISALLOWED(r, "/a", "/b", "/b/", "/d", "/e");
  ALLOWED(r, "/b/c", "/x", "/c");
  rf_robots_free(r);

  /* comments, garbage, unknown keys */
  static const char garbage[] = "# a comment\n"
            "User-agent: * # everyone\n"
            "Disallow: /a#b\n" /* the comment starts at '#' */
            "Disallow: # nothing\n"
            "Sitemap: https://x.example/sitemap.xml\n"
            "Host: x.example\n"
            "<html><body>garbage</body></html>\n"
            "Disallow /nocolon\n"
            "Disallow: nosl\n" /* not a path pattern */
            ":\n"
            "::::\n"
            "\x00\x01\x02: /bin\n"
            "Disallow: /\xff\xfe\n"
            "Allow:\n";
  r = parse_n(garbage, sizeof garbage - 1, "ringfetch");
  DISALLOWED(r, "/a", "/ab", "/a#b", "/%FF%FE", "/\xff\xfe" "x");
  ALLOWED(r, "/", "/nocolon", "/nosl", "nosl", "/bin", "/%FF");
  CHECK_EQ_INT(rf_robots_rule_count(r), 2);
  rf_robots_free(r);

  /* line ends: LF, CRLF, CR alone, mixed; no final line end */
  const char *const texts[] = {
      "User-agent: *\nDisallow: /a\nDisallow: /b",
      "User-agent: *\r\nDisallow: /a\r\nDisallow: /b\r\n",
      "User-agent: *\rDisallow: /a\rDisallow: /b\r",
      "User-agent: *\r\rDisallow: /a\n\r\nDisallow: /b",
      "\xEF\xBB\xBFUser-agent: *\nDisallow: /a\nDisallow: /b\n", /* BOM */
      "\xEF\xBB\xBFUser-agent: *\rDisallow: /a\r\nDisallow: /b",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    r = parse(texts[i], "ringfetch");
    CHECKF(!allowed(r, "/a") && !allowed(r, "/b") && allowed(r, "/c") &&
               rf_robots_rule_count(r) == 2,
           "text %zu", i);
    rf_robots_free(r);
  }
  /* a BOM anywhere but the start is not skipped */
  r = parse("\n\xEF\xBB\xBFUser-agent: *\nDisallow: /a\n", "ringfetch");
  ALLOWED(r, "/a");
  rf_robots_free(r);
  /* a lone half BOM */
  r = parse("\xEF\xBB", "ringfetch");
  ALLOWED(r, "/");
  rf_robots_free(r);

  /* empty and NULL input */
  r = rf_robots_parse(NULL, 0, "ringfetch");
  CHECK(r != NULL);
  ALLOWED(r, "/", "/x");
  rf_robots_free(r);
  r = parse("", "ringfetch");
  ALLOWED(r, "/");
  rf_robots_free(r);

  /* a NUL byte is just a byte */
  static const char nul[] = "User-agent: *\nDisallow: /a\0b\nDisallow: /c\n";
  r = parse_n(nul, sizeof nul - 1, "ringfetch");
  DISALLOWED(r, "/c");
  CHECK(!allowed_n(r, "/a\0b", 4));
  CHECK(!allowed_n(r, "/a%00b", 6));
  CHECK(allowed_n(r, "/a\0c", 4));
  rf_robots_free(r);
}

/* ---- size limit --------------------------------------------------------------- */

/* txt[from..to) = "#xxx...x\n" (to - from >= 2) */
static void comment_fill(char *txt, size_t from, size_t to) {
  txt[from] = '#';
  memset(txt + from + 1, 'x', to - from - 2);
  txt[to - 1] = '\n';
}

static void test_huge(void) {
  const size_t max = RF_ROBOTS_MAX_INPUT;
  size_t cap = 2 * max;
  char *txt = malloc(cap);
  CHECK(txt != NULL);
  if (!txt)
    return;
  static const char head[] = "User-agent: *\nDisallow: /first\n";
  memcpy(txt, head, sizeof head - 1);

  /* a rule inside the limit, one across it, one far behind it */
  size_t n = max - 6;
  comment_fill(txt, sizeof head - 1, n - 14);
  memcpy(txt + n - 14, "Disallow: /in\n", 14);
  memcpy(txt + n, "Disallow: /cut/here\n", 20);
  comment_fill(txt, n + 20, cap - 17);
  memcpy(txt + cap - 17, "Disallow: /after\n", 17);
  rf_robots *r = parse_n(txt, cap, "ringfetch");
  DISALLOWED(r, "/first", "/in");
  ALLOWED(r, "/after", "/cut", "/cut/here", "/cu"); /* the cut line goes whole */
  CHECK_EQ_INT(rf_robots_rule_count(r), 2);
  rf_robots_free(r);

  /* a text of exactly the limit is read whole, its last line (without a
   * line end) too; one byte more and that line is cut, so it goes */
  comment_fill(txt, sizeof head - 1, max - 12);
  memcpy(txt + max - 12, "Disallow: /l", 12);
  txt[max] = 'x';
  r = parse_n(txt, max, "ringfetch");
  DISALLOWED(r, "/first", "/l", "/lx");
  rf_robots_free(r);
  r = parse_n(txt, max + 1, "ringfetch");
  DISALLOWED(r, "/first");
  ALLOWED(r, "/l", "/lx");
  rf_robots_free(r);
  /* a CR as the last byte read ends its line */
  txt[max - 1] = '\r';
  r = parse_n(txt, max + 1, "ringfetch");
  DISALLOWED(r, "/first", "/");
  rf_robots_free(r);

  /* one line of 1 MiB: nothing ends inside the limit after the User-agent */
  memcpy(txt, "User-agent: *\nDisallow: /", 25);
  memset(txt + 25, 'a', cap - 25);
  r = parse_n(txt, cap, "ringfetch");
  ALLOWED(r, "/", "/aaa");
  CHECK_EQ_INT(rf_robots_rule_count(r), 0);
  rf_robots_free(r);
  /* within the limit, a 500 KiB pattern works */
  r = parse_n(txt, 500 * 1024, "ringfetch");
  CHECK_EQ_INT(rf_robots_rule_count(r), 1);
  ALLOWED(r, "/", "/aaa");
  char *t = malloc(600 * 1024);
  CHECK(t != NULL);
  if (t) {
    memset(t, 'a', 600 * 1024);
    t[0] = '/';
    CHECK(allowed_n(r, t, 500 * 1024 - 25)); /* one short */
    CHECK(!allowed_n(r, t, 500 * 1024 - 24));
    CHECK(!allowed_n(r, t, 600 * 1024));
    free(t);
  }
  rf_robots_free(r);

  /* as many rules as fit: tried longest first */
  size_t len = (size_t)sprintf(txt, "User-agent: *\n");
  for (int i = 0; len + 40 < max; i++)
    len += (size_t)sprintf(txt + len, "%s: /p%d\n", (i & 1) ? "Allow" : "Disallow", i);
  r = parse_n(txt, len, "ringfetch");
  CHECK(rf_robots_rule_count(r) > 25000);
  DISALLOWED(r, "/p0", "/p10", "/p1000x");
  ALLOWED(r, "/p1", "/p11", "/p1001x", "/q");
  rf_robots_free(r);
  free(txt);
}

/* ---- hostile patterns ------------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* rf_robots_allowed(r, target at a guard page), best of three runs. */
static double time_allowed(const rf_robots *r, const char *target, size_t tlen, bool *ok) {
  tu_guard g;
  char *t = tu_guard_copy(&g, target, tlen);
  double best = 1e9;
  for (int i = 0; i < 3; i++) {
    double t0 = now_s();
    *ok = rf_robots_allowed(r, t, tlen);
    double dt = now_s() - t0;
    best = dt < best ? dt : best;
  }
  tu_guard_free(&g);
  return best;
}

/* Disallow pattern vs target (both built by the caller), timed. */
static void timed(const char *what, const char *pattern, size_t plen, const char *target,
                  size_t tlen, bool want_allowed) {
  size_t n = plen + 64;
  char *txt = malloc(n);
  if (!txt)
    return;
  size_t k = (size_t)sprintf(txt, "User-agent: *\nDisallow: ");
  memcpy(txt + k, pattern, plen);
  k += plen;
  txt[k++] = '\n';
  rf_robots *r = parse_n(txt, k, "ringfetch");
  bool ok;
  double dt = time_allowed(r, target, tlen, &ok);
  CHECKF(ok == want_allowed, "%s", what);
  CHECKF(dt < 1.0, "%s took %.3f s", what, dt);
  fprintf(stderr, "hostile: %-48s %8.3f ms\n", what, dt * 1e3);
  rf_robots_free(r);
  free(txt);
}

static void test_hostile(void) {
  size_t tn = 64 * 1024;
  char *t = malloc(tn), *p = malloc(70 * 1024);
  CHECK(t && p);
  if (!t || !p) {
    free(t);
    free(p);
    return;
  }
  t[0] = '/';
  memset(t + 1, 'a', tn - 1);

  /* slash, 1000 times "*a", then "b" or "$" */
  size_t k = 0;
  p[k++] = '/';
  for (int i = 0; i < 1000; i++) {
    p[k++] = '*';
    p[k++] = 'a';
  }
  timed("1000 x '*a' vs 64 KiB of a", p, k, t, tn, false);
  p[k] = 'b';
  timed("1000 x '*a' + 'b' vs 64 KiB of a", p, k + 1, t, tn, true);
  p[k] = '$';
  timed("1000 x '*a' + '$' vs 64 KiB of a", p, k + 1, t, tn, false);
  t[tn - 1] = 'b';
  timed("1000 x '*a' + '$' vs 64 KiB of a + 'b'", p, k + 1, t, tn, true);
  t[tn - 1] = 'a';

  /* 1000 stars between segments that almost match everywhere */
  k = 0;
  p[k++] = '/';
  for (int i = 0; i < 1000; i++) {
    memcpy(p + k, "*aaaaaaaaaaaaaaaaaaaaaaab", 25);
    k += 25;
  }
  timed("1000 x '*a{23}b' vs 64 KiB of a", p, k, t, tn, true);

  /* one long segment after a star: the quadratic case of a backtracker */
  p[0] = '/';
  p[1] = '*';
  memset(p + 2, 'a', 32 * 1024);
  p[2 + 32 * 1024] = 'b';
  timed("'/*' + 32 Ki x 'a' + 'b' vs 64 KiB of a", p, 3 + 32 * 1024, t, tn, true);
  p[2 + 32 * 1024] = '$';
  timed("'/*' + 32 Ki x 'a' + '$' vs 64 KiB of a", p, 3 + 32 * 1024, t, tn, false);

  /* encoded units everywhere: "%61" is 'a' */
  k = 0;
  p[k++] = '/';
  for (int i = 0; i < 1000; i++) {
    memcpy(p + k, "*%61", 4);
    k += 4;
  }
  p[k++] = '$';
  for (size_t i = 1; i + 3 <= tn; i += 3)
    memcpy(t + i, "%61", 3);
  timed("1000 x '*%61' + '$' vs 64 KiB of %61", p, k, t, 1 + (tn - 1) / 3 * 3, false);

  free(t);
  free(p);
}

/* Many hostile rules at once: 200 rules of 500 stars, 64 KiB target. */
static void test_hostile_many(void) {
  size_t tn = 64 * 1024;
  char *t = malloc(tn);
  CHECK(t != NULL);
  if (!t)
    return;
  t[0] = '/';
  memset(t + 1, 'a', tn - 1);
  size_t cap = 200 * 1100 + 64;
  char *txt = malloc(cap);
  if (txt) {
    size_t len = (size_t)sprintf(txt, "User-agent: *\n");
    for (int r = 0; r < 200; r++) {
      len += (size_t)sprintf(txt + len, "Disallow: /");
      for (int i = 0; i < 500; i++) {
        txt[len++] = '*';
        txt[len++] = (char)('a' + (i + r) % 2);
      }
      len += (size_t)sprintf(txt + len, "$\n");
    }
    rf_robots *r = parse_n(txt, len, "ringfetch");
    bool ok;
    double dt = time_allowed(r, t, tn, &ok);
    CHECK(ok);
    CHECKF(dt < 1.0, "200 rules took %.3f s", dt);
    fprintf(stderr, "hostile: %-48s %8.3f ms\n", "200 rules of 500 x '*a/b' + '$', 64 KiB",
            dt * 1e3);
    rf_robots_free(r);
    free(txt);
  }
  free(t);
}

/* ---- cross-check against a slow reference ------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)((rng_state >> 11) % n);
}

/* Random rules and targets from a small, nasty alphabet, against the
 * reference (longest normalised pattern, Allow on ties). */
static void test_cross_check(void) {
  static const char *const alpha[] = {"a", "b", "/", "*", "$", "%", "2", "F", "f", "%2F", "%2f",
                                      "%61", "%7E", "~", "\xC3", "%C3", "%c3", "?", "%2A", "%24"};
  enum { NA = sizeof alpha / sizeof alpha[0] };
  long n = 0, dis = 0;
  for (int iter = 0; iter < 40000; iter++) {
    char txt[512], pats[3][32], tgt[40];
    size_t plen[3], tl = 0;
    bool allow[3];
    int nr = 1 + (int)rnd(3);
    size_t k = (size_t)sprintf(txt, "User-agent: *\n");
    for (int r = 0; r < nr; r++) {
      size_t pl = 0;
      pats[r][pl++] = rnd(6) ? '/' : '*';
      for (int m = (int)rnd(6); m > 0; m--) {
        const char *a = alpha[rnd(NA)];
        memcpy(pats[r] + pl, a, strlen(a));
        pl += strlen(a);
      }
      plen[r] = pl;
      allow[r] = rnd(2);
      k += (size_t)sprintf(txt + k, "%s: %.*s\n", allow[r] ? "Allow" : "Disallow", (int)pl,
                           pats[r]);
    }
    tgt[tl++] = '/';
    for (int m = (int)rnd(8); m > 0; m--) {
      const char *a = alpha[rnd(NA)];
      memcpy(tgt + tl, a, strlen(a));
      tl += strlen(a);
    }
    /* the reference verdict */
    long best = -1;
    bool want = true;
    char tn[160], pn[128];
    size_t tnl = ref_norm(tgt, tl, false, tn);
    bool robots = tnl >= 11 && memcmp(tn, "/robots.txt", 11) == 0 && (tnl == 11 || tn[11] == '?');
    for (int r = 0; r < nr; r++) {
      size_t pl = plen[r];
      bool anchored = pats[r][pl - 1] == '$';
      size_t pnl = ref_norm(pats[r], pl - anchored, true, pn);
      long prio = (long)pnl + anchored;
      if (ref_glob(pn, pnl, anchored, tn, tnl) &&
          (prio > best || (prio == best && allow[r]))) {
        best = prio;
        want = allow[r];
      }
    }
    if (robots)
      want = true;
    rf_robots *rb = rf_robots_parse(txt, k, "x");
    bool got = allowed_n(rb, tgt, tl);
    tu_checks++;
    if (got != want) {
      tu_fail_head(__FILE__, __LINE__, "matcher disagrees with the reference");
      fputs(" [", stderr);
      tu_print_bytes(txt, k);
      fputs(" target ", stderr);
      tu_print_bytes(tgt, tl);
      fprintf(stderr, ": got %d want %d]\n", got, want);
    }
    n++;
    dis += !got;
    rf_robots_free(rb);
  }
  CHECKF(dis > n / 10 && dis < n - n / 10, "%ld of %ld disallowed", dis, n);
  fprintf(stderr, "cross-check: %ld random robots.txt/target pairs (%ld disallowed)\n", n, dis);
}

int main(void) {
  test_rfc_simple();
  test_rfc_longest();
  test_rfc_encoding_tables();
  test_rfc_merge();
  test_group_tokens();
  test_group_structure();
  test_longest_and_tie();
  test_patterns();
  test_percent();
  test_query_and_robots_txt();
  test_crawl_delay();
  test_syntax();
  test_huge();
  test_hostile();
  test_hostile_many();
  test_cross_check();
  return TU_EXIT();
}
