"""The risk classes of what a person may be asked to approve, lowest first: a tool
declares one (tools.registry), an approval records it, policies are set per class."""


class RiskClass:
    """The risk classes a tool declares, by name; RISK_CLASSES orders them, lowest first."""

    READ = "read"
    COMPUTE = "compute"
    WRITE = "write"
    EXTERNAL_SEND = "external_send"
    DESTRUCTIVE = "destructive"
    ADMIN = "admin"
    SECRET = "secret"


RISK_CLASSES = (
    RiskClass.READ,
    RiskClass.COMPUTE,
    RiskClass.WRITE,
    RiskClass.EXTERNAL_SEND,
    RiskClass.DESTRUCTIVE,
    RiskClass.ADMIN,
    RiskClass.SECRET,
)


def risk_rank(risk: str) -> int:
    """The position of a risk class in RISK_CLASSES (read is 0); ValueError when unknown."""
    try:
        return RISK_CLASSES.index(risk)
    except ValueError:
        raise ValueError(
            f"unknown risk class {risk!r}; expected one of: {', '.join(RISK_CLASSES)}"
        ) from None
