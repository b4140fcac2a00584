/* addr.h - parsing and printing of "IP", "IP:PORT" and "[IPv6]:PORT". */
#ifndef MESHDNS_ADDR_H
#define MESHDNS_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX 64

/* Parses text into ss; a missing port takes default_port. Returns 0 or ERR_ADDR. */
int addr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *ss);
/* Parses a bare IPv4 or IPv6 address (no port). family is AF_INET or AF_INET6,
 * bytes gets 4 or 16 bytes. Returns 0 or ERR_ADDR. */
int addr_parse_ip(const char *text, int *family, uint8_t bytes[16]);
/* "127.0.0.1:53" or "[::1]:53". Returns out. */
const char *addr_format(const struct sockaddr *sa, char out[ADDR_TEXT_MAX]);
uint16_t addr_port(const struct sockaddr *sa);
socklen_t addr_len(const struct sockaddr *sa);

#endif
