"""The tutorials' models, as the FastAPI + SQLAlchemy tutorials write them
(models.py of their book-review app): `index=True`, `String(50)`,
`server_default=func.now()`, `ondelete="CASCADE"`, and nullable columns
where the tutorials leave `nullable` out."""

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Book(Base):
    __tablename__ = "books"

    id = Column(Integer, primary_key=True, index=True)
    title = Column(String(50), index=True, nullable=False)
    author = Column(String(50), index=True, nullable=False)
    price = Column(Float, nullable=False)
    rating = Column(Integer)
    published = Column(Boolean, default=False)
    description = Column(String(2000))

    reviews = relationship("Review", back_populates="book", cascade="all, delete")


class Review(Base):
    __tablename__ = "reviews"

    id = Column(Integer, primary_key=True, index=True)
    book_id = Column(Integer, ForeignKey("books.id", ondelete="CASCADE"), nullable=False)
    author = Column(String(50), nullable=False)
    content = Column(Text, nullable=False)
    timestamp = Column(DateTime(timezone=True), server_default=func.now())

    book = relationship("Book", back_populates="reviews")
