"""Extension objects, created here unbound and bound to the app in the factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import flask_sqlalchemy.model
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations stable across SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The typed (SQLAlchemy 2.x) declarative base that Flask-SQLAlchemy builds `db.Model` from."""

    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

# Models subclass `Model`, which is `db.Model`. A type checker cannot take a base class from an
# attribute of an object, so it is told what `db.Model` is: `Base` plus Flask-SQLAlchemy's mixin.
if TYPE_CHECKING:

    class Model(flask_sqlalchemy.model.Model, Base):
        __abstract__ = True
        #: Every model here maps a table of its own (`__tablename__`), not another selectable.
        __table__: ClassVar[Table]

else:
    Model = db.Model
