"""The demo shop's smaller tables: support log-ins and their log, API tokens, reviews with
rating votes, wish lists and the "email to a friend" log."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from .demo_shop import FIRST, PRODUCTS, DemoShop

REVIEWS = (("Flott skilt", "Navneskiltet kom raskt og ser profesjonelt ut."),
           ("Bra kvalitet", "Magneten holder godt, også på tykk skjorte."),
           ("Litt liten skrift", "Fint skilt, men teksten kunne vært større."),
           ("Anbefales", "Bestilte til hele butikken, alle er fornøyde."))
WISHES = ("Til bursdagen", "Julegave til kollega", "Bestille til nye ansatte i august")


def _ip_number(ip: str) -> int:
    """Magento's remote_ip_long / sendfriend ip: IPv4 as an integer, 0 for IPv6."""
    address = ipaddress.ip_address(ip)
    return int(address) if address.version == 4 else 0


def admin_logins(shop: DemoShop, count: int) -> None:
    """"Login as customer" secrets written when support staff opened a customer's account, and
    the admin log of those log-ins, which goes two years back."""
    rng = shop.rng
    for i in range(count):
        account = shop.some_account(removed=i == 0)
        at = shop.as_of - timedelta(minutes=rng.randrange(5, 700)) if i % 2 else \
            shop.moment(shop.as_of - timedelta(days=60), shop.as_of - timedelta(days=2))
        shop.add("login_as_customer", secret=shop.hex(64), customer_id=account.id, admin_id=1,
                 created_at=at)
        _login_log(shop, at, account.id, account.person.email)
    for i in range(count):
        account = shop.some_account(removed=i == 0)
        at = shop.moment(shop.as_of - timedelta(days=730), shop.as_of - timedelta(days=61))
        _login_log(shop, at, account.id, account.person.email)


def _login_log(shop: DemoShop, at: datetime, customer: int, email: str) -> None:
    shop.add("magento_login_as_customer_log", log_id=shop.next_id("magento_login_as_customer_log"),
             time=at, user_id=1, user_name="support", customer_id=customer,
             customer_email=email[:40])  # Magento cuts the copy to the column's 40 characters


def api_tokens(shop: DemoShop, count: int) -> None:
    """Customer access tokens of the shop's app (Magento's default lifetime is one hour, but
    its cleanup cron may not run), and two integration tokens that belong to no customer."""
    rng = shop.rng
    for i in range(count):
        account = shop.some_account(removed=i == 0)
        at = shop.as_of - (timedelta(minutes=rng.randrange(5, 600)) if i % 3 == 1
                           else timedelta(days=rng.randrange(2, 40)))
        shop.add("oauth_token", entity_id=shop.next_id("oauth_token"), consumer_id=None,
                 admin_id=None, customer_id=account.id, type="access", token=shop.hex(32),
                 secret=shop.hex(32), revoked=0, user_type=3, created_at=at)
    for _ in range(2):
        shop.add("oauth_token", entity_id=shop.next_id("oauth_token"), consumer_id=1,
                 admin_id=None, customer_id=None, type="access", token=shop.hex(32),
                 secret=shop.hex(32), revoked=0, user_type=1,
                 created_at=shop.moment(shop.start, shop.as_of))


def reviews(shop: DemoShop, count: int) -> None:
    """Product reviews with their star ratings. Every review by a logged-in customer carries a
    rating vote with the customer's id; guests' reviews sometimes have one too."""
    rng = shop.rng
    shop.add("review_entity", entity_id=1, entity_code="product")
    for status, code in ((1, "Approved"), (2, "Pending"), (3, "Not Approved")):
        shop.add("review_status", status_id=status, status_code=code)
    for stars in range(1, 6):
        shop.add("rating_option", option_id=stars, code=str(stars), value=stars)
    for i in range(count):
        account = shop.some_account(removed=i == 0) if i == 0 or rng.random() < 0.7 else None
        person = account.person if account else shop.person()
        low = account.created_at if account else shop.start
        at = shop.moment(low, shop.as_of, recent=True)
        product = rng.choice(PRODUCTS)[0]
        review = shop.add("review", review_id=shop.next_id("review"), created_at=at, entity_id=1,
                          entity_pk_value=product, status_id=rng.choice((1, 1, 1, 2)))
        title, text = rng.choice(REVIEWS)
        shop.add("review_detail", detail_id=shop.next_id("review_detail"), review_id=review,
                 store_id=1, title=title, detail=f"{text} Hilsen {person.first} i {person.city}.",
                 nickname=person.first, customer_id=account.id if account else None)
        if account or rng.random() < 0.5:
            stars, ip = rng.choice((3, 4, 5, 5)), shop.ip()
            shop.add("rating_option_vote", vote_id=shop.next_id("rating_option_vote"),
                     option_id=stars, remote_ip=ip, remote_ip_long=_ip_number(ip),
                     customer_id=account.id if account else None, entity_pk_value=product,
                     review_id=review, value=stars)


def wishlists(shop: DemoShop, count: int) -> None:
    """Wish lists (one per account at most) with a few products and the owner's notes."""
    rng = shop.rng
    owners = {shop.some_account(removed=True).id} if shop.accounts else set()
    while len(owners) < min(count, len(shop.accounts)):
        owners.add(shop.some_account().id)
    for owner in sorted(owners):
        at = shop.moment(shop.as_of - timedelta(days=900), shop.as_of)
        wishlist = shop.add("wishlist", wishlist_id=shop.next_id("wishlist"), customer_id=owner,
                            shared=int(rng.random() < 0.2), sharing_code=shop.hex(32),
                            updated_at=at)
        for product in rng.sample(PRODUCTS, rng.randrange(1, 3)):
            shop.add("wishlist_item", wishlist_item_id=shop.next_id("wishlist_item"),
                     wishlist_id=wishlist, product_id=product[0], store_id=1, added_at=at,
                     description=rng.choice(WISHES) + f" ({rng.choice(FIRST)})"
                     if rng.random() < 0.4 else None, qty=1)


def send_to_friend(shop: DemoShop, count: int) -> None:
    """The "email to a friend" rate limiter's log: the sender's IPv4 address as an integer and
    Unix seconds. Half is from the last hours, the rest up to a month old."""
    rng = shop.rng
    now = int(shop.as_of.replace(tzinfo=UTC).timestamp())
    for i in range(count):
        age = rng.randrange(60, 36_000) if i % 2 else rng.randrange(2 * 86_400, 30 * 86_400)
        ip = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"
        shop.add("sendfriend_log", log_id=shop.next_id("sendfriend_log"), ip=_ip_number(ip),
                 time=now - age, website_id=1)
