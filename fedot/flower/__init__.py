"""fedot's hold on Flower's processes and CLI: the SuperLink, SuperNodes, and ``flwr`` connections.

One job per module:

- ``toml``: Flower's run and node config values written as TOML;
- ``tools``: the environment of the Flower processes fedot starts;
- ``processes``: starting, stopping and sweeping local processes;
- ``connection``: the ``flwr`` CLI's connection to a SuperLink (submit, status, logs, nodes);
- ``superlink``: a ``flower-superlink`` process here, and its connection;
- ``supernode``: a ``flower-supernode`` process and its command line.
"""
