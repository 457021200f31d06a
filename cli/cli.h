/* cli/cli.h - what the CLI's command files share. */
#ifndef CELERIAC_CLI_H
#define CELERIAC_CLI_H

#include <libpq-fe.h>

#include "common/config.h"

/* Connect to DATABASE_URL, or print why and return NULL. */
PGconn *open_db(const struct config *cfg);
/* celeriac periodic add|list|remove|enable|disable: argv[0] is "periodic". */
int cmd_periodic(const struct config *cfg, int argc, char **argv);
/* celeriac scrape URL [--max-pages N] [--no-follow] [--quiet]: argv[0] is "scrape". */
int cmd_scrape(const struct config *cfg, int argc, char **argv);
/* celeriac convert IN OUT [--to FMT] [--width N] [--height N] [--quality N]
 * [--delimiter C]: argv[0] is "convert". */
int cmd_convert(const struct config *cfg, int argc, char **argv);

#endif
