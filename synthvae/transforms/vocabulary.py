"""Words that generated PII is built from: a small built-in list, or Faker's locale lists.

The built-in lists are common US first names and surnames (as in public census and
birth-name tables), common street names and suffixes, town names, the US state codes and
the domains reserved for examples (RFC 2606: example.com, .org, .net), so generated
e-mail addresses and URLs never reach a real mailbox or site. With the ``pii`` extra
(Faker) installed, first names, last names, street suffixes and town suffixes come from
Faker's providers for ``DEFAULT_LOCALE``: about 700 first names and 1,000 last names
instead of about 150 each, so far more distinct names. Faker is read as data only; values
are assembled by synthvae's vectorized generators (a per-row Faker call is about 20 us and
could not be steered by :mod:`synthvae.transforms.fence`).

A fitted column records which source it used (``"builtin"`` or ``"faker:<locale>"``) and
samples from the same one, so a model gives the same rows wherever that source is present.
"""

from __future__ import annotations

import functools
import importlib
import re

from synthvae.errors import ConfigError

DEFAULT_LOCALE = "en_US"
BUILTIN = "builtin"

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Dorothy", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "Edward",
    "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob", "Kathleen",
    "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna", "Stephen",
    "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander",
    "Debra", "Frank", "Rachel", "Patrick", "Carolyn", "Raymond", "Janet", "Jack", "Catherine",
    "Dennis", "Maria", "Jerry", "Heather", "Tyler", "Diane", "Aaron", "Ruth", "Jose", "Julie",
    "Adam", "Olivia", "Nathan", "Joyce", "Henry", "Virginia", "Douglas", "Victoria", "Zachary",
    "Kelly", "Peter", "Lauren", "Kyle", "Christina", "Ethan", "Joan", "Walter", "Evelyn",
    "Noah", "Judith", "Jeremy", "Megan", "Christian", "Andrea", "Keith", "Cheryl", "Roger",
    "Hannah", "Terry", "Jacqueline", "Gerald", "Martha", "Harold", "Gloria", "Sean", "Teresa",
    "Austin", "Ann", "Carl", "Sara", "Arthur", "Madison", "Lawrence", "Frances", "Dylan",
    "Kathryn", "Jesse", "Janice", "Jordan", "Jean", "Bryan", "Abigail", "Billy", "Alice")
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan",
    "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno",
    "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar",
    "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez",
    "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman",
    "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter")
STREET_NAMES = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Walnut", "Spring", "North", "Ridge", "Church", "Willow", "Mill", "Sunset", "Railroad",
    "Jackson", "Cherry", "Highland", "Forest", "Jefferson", "Center", "Lincoln", "Madison",
    "Meadow", "River", "Franklin", "Chestnut", "Adams", "Valley", "Hickory", "Dogwood",
    "Birch", "Laurel", "Magnolia", "Sycamore", "Lakeview", "Poplar", "Orchard", "Prospect")
STREET_SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Way",
                   "Boulevard", "Terrace", "Circle", "Trail")
TOWN_STEMS = ("Spring", "River", "Fair", "Green", "Oak", "Clear", "Maple", "Lake", "Ash",
              "Glen", "Brook", "Pine", "Stone", "Mill", "Bridge", "Cedar", "Elm", "West",
              "North", "Rose")
TOWN_SUFFIXES = ("field", "ton", "ville", "view", "dale", "port", "wood", "ford", "burg",
                 "haven", "side", "mont")
STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY")
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")  # RFC 2606: reserved
EXAMPLE_HOSTS = ("www.example.com", "example.org", "www.example.net")
PATH_WORDS = ("user", "profile", "account", "item", "post", "page", "member", "order")
TITLE_WORDS = ("Mr", "Mrs", "Ms", "Dr")

_LETTERS = re.compile(r"[^\W\d_]+")
_ASCII = re.compile(r"[A-Za-z]+")


def faker_available() -> bool:
    try:
        importlib.import_module("faker")
    except ImportError:
        return False
    return True


def default_source() -> str:
    """The source a new fit uses: Faker's lists when the ``pii`` extra is installed."""
    return f"faker:{DEFAULT_LOCALE}" if faker_available() else BUILTIN


@functools.lru_cache(maxsize=8)
def words(source: str) -> dict[str, tuple[str, ...]]:
    """The lists of ``source``: first/last names, street names/suffixes, town names, states.

    Every word is a run of letters (two or more) that is not a title, so each one enters
    the ``name`` code of :mod:`synthvae.transforms.fence` whole.
    """
    from synthvae.transforms.fence import counted_word

    lists = _builtin() if source == BUILTIN else _faker(source)
    return {key: tuple(dict.fromkeys(w for w in values if _LETTERS.fullmatch(w)
                                     and counted_word(w)))
            for key, values in lists.items()}


def ascii_words(values: tuple[str, ...]) -> tuple[str, ...]:
    """The words that are plain ASCII letters (for e-mail local parts and URLs)."""
    return tuple(w for w in values if _ASCII.fullmatch(w))


def _builtin() -> dict:
    towns = tuple(stem + suffix for stem in TOWN_STEMS for suffix in TOWN_SUFFIXES)
    return {"first": FIRST_NAMES, "last": LAST_NAMES, "street": STREET_NAMES,
            "suffix": STREET_SUFFIXES, "town": towns, "state": STATES}


def _provider(kind: str, locale: str):
    """Faker's provider class of ``kind`` (person, address) for ``locale``."""
    return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider


def _faker(source: str) -> dict:
    locale = source.split(":", 1)[1]
    try:
        person, address = _provider("person", locale), _provider("address", locale)
    except ImportError:
        raise ConfigError(f"This model's PII columns were generated from Faker's {locale!r} "
                          f"lists; install Faker (pip install 'synthvae[pii]') to sample "
                          f"them.") from None
    builtin = _builtin()
    first = tuple(getattr(person, "first_names", ())) or builtin["first"]
    last = tuple(getattr(person, "last_names", ())) or builtin["last"]
    town_suffixes = tuple(getattr(address, "city_suffixes", ())) or TOWN_SUFFIXES
    towns = tuple(name + suffix.lower() for name in last[:200] for suffix in town_suffixes
                  if suffix.isalpha())
    return {"first": first, "last": last, "street": first[:100] + last[:200],
            "suffix": tuple(getattr(address, "street_suffixes", ())) or STREET_SUFFIXES,
            "town": towns or builtin["town"],
            "state": tuple(getattr(address, "states_abbr", ())) or STATES}
