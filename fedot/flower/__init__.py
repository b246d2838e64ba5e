"""fedot's hold on Flower's processes and CLI: the SuperLink, SuperNodes, and ``flwr`` connections.

One job per module:

- ``toml``: Flower's run and node config values written as TOML;
- ``tools``: the running interpreter's Flower executables, and the environment of Flower's processes;
- ``processes``: starting, stopping and sweeping local processes;
- ``lifetime``: ending cleanly however fedot ends (stop signals; a watchdog for each temporary home);
- ``connection``: the ``flwr`` CLI's connection to a SuperLink (submit, status, logs, nodes);
- ``superlink``: a ``flower-superlink`` process here, with its SuperExec and its connection;
- ``fleet_proxy``: nginx in front of a SuperLink, letting only the Fleet API through;
- ``supernode``: a ``flower-supernode`` process and its command line.
"""
