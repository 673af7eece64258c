"""aelib: the small helper library behind "Autoencoders, hands-on".

Import the room you need, for example ``from aelib import data, models, train``.
Nothing happens on import: no seeds are set, no plotting style is changed.
"""

__version__ = "0.1.0"
