"""segan: facial expression editing with GANs, trained with Accelerate, shared on the Hub."""

__version__ = "0.1.0"
