"""fedot: federated learning with optimal-transport model fusion, on Flower."""

__version__ = "0.1.0"
