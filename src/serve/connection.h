// Noticing that an HTTP client went away while its request is still generating. cpp-httplib 0.11
// does not hand a handler its socket, so the server finds it once per request: the process's
// socket whose local port is the server's and whose peer is the request's remote address/port
// (unique among live connections; the socket stays open until the handler returns). A peer that
// closed or reset the connection then shows as POLLRDHUP/POLLHUP/POLLERR. Linux only; where the
// socket cannot be found, disconnects are still noticed by the next failed write of a stream.
#pragma once

#include <string>

namespace kiln::serve {

// -1 when not found.
int find_connection_socket(const std::string& remote_addr, int remote_port, int local_port);

// True when the peer of `fd` has closed or reset the connection (never blocks).
bool peer_closed(int fd);

}  // namespace kiln::serve
