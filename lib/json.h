/*
 * json.h - the JSON serde's own parser and printer (lib/json.c), over
 * jansson values.
 *
 * jansson's json_loadb() reads its input a character at a time through a
 * callback, checks UTF-8 per character and collects every token in a
 * growing buffer; json_dumpb() writes through a callback per fragment and
 * keeps a hashtable of the containers it is inside (keyed by their address
 * printed as text) to detect cycles. Together that is most of a JSON
 * pipeline's cost (../shared/notes/json.md). These two do the same work on
 * the bytes directly and build / read the same jansson values, so that
 * nothing a user sees changes: the values are jansson's, 64-bit integers
 * stay exact, keys keep their order.
 *
 * Both are reentrant: no state outside their arguments. They read the
 * C locale's decimal point for reals (localeconv()), as jansson does.
 */
#ifndef SL_JSON_H
#define SL_JSON_H

#include "sluice.h"

#include <jansson.h>
#include <stddef.h>

/* Parse @len bytes at @data as one JSON value of any type, accepting and
 * refusing exactly what json_loadb(data, len, JSON_DECODE_ANY) accepts
 * and refuses (strict UTF-8, no \u0000, 64-bit integers, a real that
 * overflows refused, at most 2048 levels of nesting, nothing but white
 * space after the value), and building the same value, with one
 * exception: jansson skips a NUL byte right after a number or a literal
 * ("[1\0,2]" reads as [1,2], an artefact of its NUL-terminated read
 * buffer), where this parser refuses the NUL. Duplicate keys:
 * the last one's value, in the first one's place (as jansson).
 * @returns the new value (one reference, the caller's), or NULL with a
 * message naming the byte offset in @errstr (out of memory included). */
json_t *sl_json_parse(const void *data, size_t len, char *errstr,
                      size_t errstr_size);

/* Append @j to @buf as compact JSON, byte for byte what
 * json_dumpb(j, JSON_COMPACT | JSON_ENCODE_ANY) writes. @returns 0,
 * SLUICE_ERR_NOMEM, or -1 where jansson fails too: a string that is not
 * valid UTF-8 (jansson's *_nocheck constructors let one in), a cycle; and
 * -1 for an object key that is not UTF-8, which jansson writes as far as
 * the bad byte and goes on from (its output is then not JSON). A
 * value nested deeper than 2048 levels (a cycle, or a very deep value
 * built by hand) is handed to json_dumpb() itself. On an error @buf->len
 * is as it was. */
int sl_json_dump(const json_t *j, sluice_buf_t *buf);

#endif
