"""``python -m fedot.deploy``: fedot on Flower's Deployment Engine — real SuperLink, real SuperNodes.

The ServerApp and ClientApp are the ones ``python -m fedot.simulate`` runs; only
the engine differs. Subcommands:

- ``local``: start a SuperLink, its Fleet proxy and one SuperNode per client on
  this machine (TLS by default), run the federation the RunConfig flags
  describe, print the results and stop everything — or, with ``--serve``, keep
  the topology up for ``flwr run . fedot`` by hand.
- ``run``: submit the federation to a SuperLink that runs elsewhere (docker
  compose, another machine), stream its log and wait for the outcome.
- ``node``: start one SuperNode for a partition (what the docker image runs);
  ``--partition-id auto`` takes it from the compose replica number.
- ``serverapp``: start the SuperExec that runs ServerApps for a SuperLink
  started with ``--isolation process`` (the ``serverapp`` compose service).
- ``register``: register SuperNode public keys (SuperNode authentication).
- ``fleet-proxy``: nginx in front of a SuperLink, forwarding only the Fleet API
  (the ``fleet-proxy`` compose service).

Unencrypted connections happen only with ``--insecure``, and print a warning.
"""


from fedot.deploy.containers import replica_number_of, resolve_partition
from fedot.deploy.local import LocalDeployment, make_certificates

__all__ = ["LocalDeployment", "make_certificates", "replica_number_of", "resolve_partition"]
