/* robots.txt (RFC 9309, the Robots Exclusion Protocol): parsing for one
 * product token, and matching request targets against the rules kept.
 *
 * Pure byte code: no sockets, no engine knowledge. A crawler fetches an
 * origin's /robots.txt once, parses it with rf_robots_parse for its own
 * product token, and asks rf_robots_allowed about every URL of that origin.
 * An rf_robots is never changed after it is made, so any number of threads
 * may query one at the same time.
 *
 * Parsing (rf_robots_parse)
 * - At most the first RF_ROBOTS_MAX_INPUT bytes (512 KiB) are read; RFC 9309
 *   section 2.5 asks for a limit of at least 500 KiB. When the input is
 *   longer, the line that the limit cuts in two is dropped too: a rule cut
 *   short ("Allow: /pub" of "Allow: /public/x") would cover more than its
 *   author wrote.
 * - Any bytes are accepted and nothing is ever a failure: a UTF-8 BOM at the
 *   start is skipped, lines end in LF, CRLF or CR, '#' starts a comment,
 *   lines without ':' or with an unknown key (Sitemap, Host, ...) are
 *   ignored, and so are rules before the first User-agent line.
 * - Keys are case-insensitive, with optional spaces and tabs around ':';
 *   '-', '_' and spaces inside a key are ignored ("User-agent", "useragent",
 *   "User agent", "crawl_delay"), and the misspellings "disalow",
 *   "dissallow" and "dissalow" are Disallow (RFC 9309 section 2.2.4 lets
 *   crawlers accept misspellings).
 * - A group is one or more consecutive User-agent lines (blank, comment and
 *   ignored lines between them do not break the run) followed by its rules;
 *   Allow, Disallow and Crawl-delay are the group's rules, and a User-agent
 *   line after one of them starts a new group.
 * - Group selection (RFC 9309 section 2.2.1): a User-agent value names the
 *   caller's product token when its leading run of token characters
 *   (letters, '-' and '_') equals the token's, ignoring case: for the token
 *   "ringfetch", "RingFetch", "ringfetch/1.0" and "ringfetch (+https://..)"
 *   match, "ringfetchbot" and "ring" do not. The value "*" (alone, or
 *   followed by anything but a token character: "* # all") names every
 *   crawler. All the groups that name the
 *   token are merged into one; when there is none, all the "*" groups are;
 *   when there is none of those either, nothing is disallowed. A group that
 *   names the token replaces the "*" groups even when it has no rules (then
 *   everything is allowed): the two are never combined. A group that names
 *   both "*" and the token is a group for the token.
 * - Only the selected group's rules are kept: memory is proportional to
 *   them, so bounded by the input limit. A rule costs 20 bytes plus its
 *   normalised pattern (1 byte per ASCII byte of the value, 3 per byte that
 *   is percent-encoded), plus 4 bytes per pattern byte for a pattern with a
 *   '*' (its search table); the worst a 512 KiB text can ask for is ~8 MiB.
 *
 * Rule values (path patterns, RFC 9309 sections 2.2.2 and 2.2.3)
 * - The value runs from the first non-blank after ':' to the comment or the
 *   end of the line, with trailing spaces and tabs removed. An empty value
 *   is no rule (an empty Disallow disallows nothing, an empty Allow would
 *   allow what is allowed anyway). A value that starts with neither '/' nor
 *   '*' is not a path pattern and is ignored (RFC 9309's path-pattern
 *   starts with "/"; "*" is accepted because "Disallow: *.gif" is common).
 * - '*' matches any sequence of octets (also none) and '$' at the end of
 *   the value anchors the pattern at the end of the target; a '$' anywhere
 *   else is an ordinary character. Without '$' a pattern matches every
 *   target it is a prefix of. Matching is case-sensitive and starts at the
 *   target's first octet.
 * - Percent-encoding is normalised on both sides before comparing: %XX of
 *   an unreserved character (ALPHA, DIGIT, "-", ".", "_", "~") is that
 *   character ("/%7Efoo" is "/~foo"); every other %XX keeps its encoded
 *   form, compared with upper-case hex ("/%e3" is "/%E3"), and a raw
 *   character stays raw, so "/a%2Fb" and "/a/b" stay different (RFC 3986
 *   section 2.2: a reserved character and its encoding are not
 *   equivalent. RFC 9309's table in section 2.2.2 shows a query's "://"
 *   encoded as "%3A%2F%2F"; read literally, every raw reserved character
 *   would be encoded and "/a/b" would equal "/a%2Fb", which no server
 *   agrees with). Octets >= 0x80, controls, space and DEL compare as
 *   their encoding ("/\xE3" is "/%E3"); a '%' not followed by two hex
 *   digits compares as "%25". One exception to "raw stays raw", for RFC
 *   9309 section 2.2.3 (a pattern matches a literal '*' or '$' only as
 *   "%2A" or "%24"): in the target, '*' and '$' compare as "%2A" and "%24",
 *   so the pattern "/a-%2A" matches both "/a-*" and "/a-%2A".
 * - Patterns and targets are compared octet by octet in that normalised
 *   form (RFC 9309: "the end of the path from the rule is reached before a
 *   difference in octets is encountered"), so a '*' may end inside a %XX:
 *   "/a*2F" matches "/a%2F".
 * - The rule whose pattern is the longest wins, in octets of the normalised
 *   pattern ("*" and a final "$" count one each, "%7E" counts one, "%2F"
 *   and a '$' before the end three); on a tie Allow wins; when no rule
 *   matches, the target is allowed.
 *
 * Matching costs O(pattern length + target length) per rule, however
 * hostile the pattern: each segment between stars is searched for with
 * Knuth-Morris-Pratt, nothing backtracks or recurses, nothing is allocated.
 * Rules are tried longest first and the first match decides; a rule whose
 * literal start (what comes before its first '*') does not match the start
 * of the target costs only that compare. So one call costs about the total
 * pattern length plus, for each rule that gets past its start (typically
 * those that begin with a star, or a slash and a star), one pass over the
 * target. Real files (a few hundred rules) take a microsecond or two per
 * call; the worst a 512 KiB file can do is ~35,000 rules like
 * "Disallow: *1a2b", each scanning the whole target: ~0.2 s for a 2 KiB
 * target, ~2 s for a 64 KiB one (release build). A caller that crawls
 * hostile sites may want to bound the target length or the time it spends
 * per origin. */
#ifndef RF_PROTO_ROBOTS_H
#define RF_PROTO_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>

/* The most bytes of a robots.txt that rf_robots_parse reads. */
#define RF_ROBOTS_MAX_INPUT (512u * 1024u)

/* The largest Crawl-delay rf_robots_crawl_delay reports, in seconds. A
 * larger one (hostile, or a typo: "Crawl-delay: 3600") would park every URL
 * of the origin for hours behind one robots.txt line and hold the crawl's
 * per-origin state all that time; a site that does not want to be crawled
 * says "Disallow: /". One minute is also how long the engine waits before
 * it asks again for a robots.txt that failed with 5xx. */
#define RF_ROBOTS_MAX_DELAY 60.0

typedef struct rf_robots rf_robots;

/* Parses the robots.txt text txt[0..len) (any bytes; txt may be NULL when
 * len is 0; no NUL terminator is needed and nothing past
 * min(len, RF_ROBOTS_MAX_INPUT) is read) for the product token agent (e.g.
 * "ringfetch"; NUL-terminated). Only the leading run of token characters
 * (letters, '-', '_') of agent counts, so "ringfetch/1.0" is the token "ringfetch"; a
 * NULL or empty token (or one that starts with another character) matches
 * only the "*" groups. Keeps only the selected group's rules (see above).
 * Returns NULL when out of memory; free with rf_robots_free. */
rf_robots *rf_robots_parse(const char *txt, size_t len, const char *agent);

/* Everything allowed (for a robots.txt answered with 4xx) and everything
 * but /robots.txt disallowed (for one answered with 5xx, or unreachable).
 * These never fail: they are shared read-only objects, and rf_robots_free
 * on them does nothing. */
rf_robots *rf_robots_allow_all(void);
rf_robots *rf_robots_disallow_all(void);

/* Is the request target target[0..len) (path and query, e.g. "/a/b?x=1";
 * not NUL-terminated, nothing outside it is read; target may be NULL when
 * len is 0, and an empty target is "/") allowed? "/robots.txt" (with any
 * query, in any equivalent encoding) is always allowed, even by
 * rf_robots_disallow_all. A NULL r allows everything. Allocates nothing. */
bool rf_robots_allowed(const rf_robots *r, const char *target, size_t len);

/* The Crawl-delay of the selected groups in seconds: a decimal number
 * ("10", "0.5", ".5", "2.", leading digits of "10s"), the largest when
 * given more than once, at most RF_ROBOTS_MAX_DELAY; 0 when there is none
 * (or only invalid ones: "-1", "abc", "inf"). Non-standard (RFC 9309 does
 * not define it) but widely used, for the engine's per-origin rate. */
double rf_robots_crawl_delay(const rf_robots *r);

/* Number of Allow and Disallow rules kept (for tests and diagnostics): 0
 * for allow_all, 1 for disallow_all, 0 for NULL. */
size_t rf_robots_rule_count(const rf_robots *r);

/* Frees r. NULL (and the allow_all / disallow_all objects) is OK. */
void rf_robots_free(rf_robots *r);

#endif
