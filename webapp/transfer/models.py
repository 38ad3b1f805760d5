"""Rows of the transfer feature: what the importer has read of each transcript file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.models import Base, JSONType


class ImportedFile(Base):
    """A transcript file read by ``sessionboard import``: how far (``end_offset``,
    in bytes) and at which size and mtime, so a grown file is read only from there."""

    __tablename__ = "imported_files"

    #: The file's resolved absolute path.
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    end_offset: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)
    #: Ids of the sessions the file held, as last read.
    sessions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    imported_at: Mapped[datetime]
