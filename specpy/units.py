"""Physical units as the OBF format stores them: rational exponents of the SI base units and a scale.

Kept free of astropy so that opening a file stays fast; astropy is imported only to parse a
unit given as text or as an astropy unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

# The order of the exponents in the file.
BASE_NAMES = ("m", "kg", "s", "A", "K", "mol", "cd", "rad", "sr")


@dataclass(frozen=True)
class SIUnit:
    """A unit: scale x m^e0 kg^e1 s^e2 A^e3 K^e4 mol^e5 cd^e6 rad^e7 sr^e8."""

    exponents: tuple[Fraction, ...] = (Fraction(0),) * len(BASE_NAMES)
    scale: float = 1.0

    @classmethod
    def parse(cls, unit: Any) -> SIUnit:
        """Return the SIUnit of an SIUnit, an astropy unit, a unit string ('m', 'um', 'W') or None."""
        if isinstance(unit, SIUnit):
            return unit
        if unit is None or unit == "":
            return DIMENSIONLESS
        import astropy.units as u

        try:
            astro = u.Unit(unit)
        except (ValueError, TypeError) as error:
            from .errors import ValidationError

            raise ValidationError(f"{unit!r} is not a unit astropy can read (e.g. 'm', 'um', 's', 'W')") from error
        bases = [getattr(u, name) for name in BASE_NAMES]
        decomposed = astro.decompose(bases=bases)
        exponents = [Fraction(0)] * len(BASE_NAMES)
        for base, power in zip(decomposed.bases, decomposed.powers):
            exponents[bases.index(base)] = Fraction(power).limit_denominator(1000)
        return cls(tuple(exponents), float(decomposed.scale))

    def __str__(self) -> str:
        parts = []
        for name, exponent in zip(BASE_NAMES, self.exponents):
            if exponent == 1:
                parts.append(name)
            elif exponent:
                power = str(exponent) if exponent.denominator == 1 else f"({exponent})"
                parts.append(f"{name}{power}")
        text = " ".join(parts)
        if self.scale != 1.0:
            text = f"{self.scale:g} {text}".strip()
        return text


DIMENSIONLESS = SIUnit()
