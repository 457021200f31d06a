/* common/xml_quiet.h - keep libxml2 from printing on stderr: errors outside
 * a parser context ("I/O error : encoder error" for a broken byte in a
 * declared charset) ignore the parse options, and a user's or a page's bytes
 * are not a worker's news (the callers report what failed themselves).
 * Header-only, so that only the programs whose code parses XML (the scraper,
 * the converters) link libxml2: the webapp includes none of this. Cheap:
 * call it before each parse (libxml2 keeps the handlers per thread). */
#ifndef CELERIAC_XML_QUIET_H
#define CELERIAC_XML_QUIET_H

#include <libxml/xmlerror.h>

static inline void
xml_no_message(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static inline void
xml_no_error(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

static inline void
xml_quiet(void)
{
    xmlSetGenericErrorFunc(NULL, xml_no_message);
    xmlSetStructuredErrorFunc(NULL, xml_no_error);
}

#endif
