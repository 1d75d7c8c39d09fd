# Python 2.7: run wstest with every listening socket bound to 127.0.0.1.
#
# The suite binds all interfaces: in fuzzingserver mode autobahn's listenWS() calls
# reactor.listenTCP(port, factory, backlog, interface='') whatever host the spec's "url" names,
# and the embedded web server (-u/--webport, 8080 by default) does the same; neither the command
# line nor the spec has a field for the interface. So this launcher wraps the reactor's
# listenTCP/listenSSL to put 127.0.0.1 where the interface is empty, then runs wstest with the
# given arguments. run.py also passes "-u 0", which disables the web server altogether.
#
# Usage: .venv-py2/bin/python wstest_loopback.py -m fuzzingserver -s spec.json -u 0
import sys

from autobahntestsuite import wstest  # installs the Twisted reactor
from twisted.internet import reactor

LOOPBACK = "127.0.0.1"


def _loopback(listen):
    def wrapper(port, factory, *args, **kwargs):
        args = list(args)
        # listenTCP(port, factory, backlog=50, interface='')
        # listenSSL(port, factory, contextFactory, backlog=50, interface='')
        position = 1 if listen.__name__ == "listenTCP" else 2
        if len(args) > position:
            args[position] = args[position] or LOOPBACK
        else:
            kwargs["interface"] = kwargs.get("interface") or LOOPBACK
        port_obj = listen(port, factory, *args, **kwargs)
        host = port_obj.getHost()
        sys.stdout.write(
            "wstest_loopback: listening on " + host.host + ":" + str(host.port) + "\n"
        )
        sys.stdout.flush()
        return port_obj

    wrapper.__name__ = listen.__name__
    return wrapper


reactor.listenTCP = _loopback(reactor.listenTCP)
reactor.listenSSL = _loopback(reactor.listenSSL)

if __name__ == "__main__":
    sys.argv[0] = "wstest"
    sys.exit(wstest.run())
