# Python 2 launcher for Autobahn|Testsuite's wstest that binds every listening
# socket to 127.0.0.1: wstest itself listens on all interfaces. Same arguments
# as wstest. Used by scripts/autobahn.sh.
import sys

# Importing wstest installs the epoll reactor first (it must come before any
# other import of twisted.internet.reactor).
from autobahntestsuite import wstest
from twisted.internet import reactor

LOOPBACK = "127.0.0.1"
_listen_tcp = reactor.listenTCP
_listen_ssl = reactor.listenSSL


def _loopback_tcp(port, factory, backlog=50, interface=""):
    return _listen_tcp(port, factory, backlog, LOOPBACK)


def _loopback_ssl(port, factory, context_factory, backlog=50, interface=""):
    return _listen_ssl(port, factory, context_factory, backlog, LOOPBACK)


reactor.listenTCP = _loopback_tcp
reactor.listenSSL = _loopback_ssl

if __name__ == "__main__":
    sys.argv[0] = "wstest"
    sys.exit(wstest.run())
