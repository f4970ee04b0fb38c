"""Invented data for the demo shop: six years of customers, orders, carts and traffic, and
rows in every one of the 40 Magento tables that hold personal data.

Everything comes from `random.Random(seed)` and `as_of` alone, so one seed always gives the same
shop. The people are invented (see `demo_shop`). Orders and carts are made in
`demo_data_sales`, reviews, wish lists, tokens and logs in `demo_data_more`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .demo_data_more import admin_logins, api_tokens, reviews, send_to_friend, wishlists
from .demo_data_sales import abandoned_carts, coupon_use, orders
from .demo_schema import demo_metadata
from .demo_shop import Account, DemoShop

__all__ = ["CHUNK", "DEMO_SECRET", "DemoShop", "generate"]

DEMO_SECRET = "demo-only-secret--never-use-for-a-real-shop"
CHUNK = 2000


def generate(customers: int, seed: int, as_of: datetime) -> tuple[DemoShop, list[int]]:
    """All rows of the demo shop, and the ids of the accounts to remove afterwards.

    7% of the accounts (at least 3) are removed once their data is in place; they are drawn
    first so that the generators can give removed accounts at least one row of each kind
    (a review, a stored card, ...) even in a small shop.
    """
    shop = DemoShop(demo_metadata(), seed, as_of)
    shop.removed = set(shop.rng.sample(range(1, customers + 1),
                                       min(customers // 2, max(3, customers * 7 // 100))))
    shop.add("store_website", website_id=0, code="admin", name="Admin")
    shop.add("store_website", website_id=1, code="base", name="Main Website")
    shop.add("store", store_id=0, code="admin", website_id=0, name="Admin")
    shop.add("store", store_id=1, code="default", website_id=1, name="Default Store View")
    for _ in range(customers):
        _account(shop)
    orders(shop, guests=customers // 2)
    coupon_use(shop)
    abandoned_carts(shop, customers // 4)
    _newsletter_guests(shop, customers // 7)
    _traffic(shop, visits=customers)
    if customers:
        admin_logins(shop, max(4, customers // 100))
        api_tokens(shop, max(4, customers // 50))
        reviews(shop, max(6, customers // 15))
        wishlists(shop, max(3, customers // 12))
    send_to_friend(shop, max(4, customers // 40))
    return shop, sorted(shop.removed)


def _account(shop: DemoShop) -> None:
    rng, p = shop.rng, shop.person()
    cid = shop.next_id("customer_entity")
    created = shop.moment(shop.start, shop.as_of - timedelta(days=1), recent=True)
    address_id = shop.add(
        "customer_address_entity", entity_id=shop.next_id("customer_address_entity"),
        parent_id=cid, created_at=created, updated_at=created, is_active=1, city=p.city,
        country_id="NO", firstname=p.first, lastname=p.last, postcode=p.postcode,
        region=p.region, street=p.street, telephone=p.phone)
    token = rng.random() < 0.04
    token_at = (shop.as_of - timedelta(minutes=rng.randrange(10, 1200)) if rng.random() < 0.5
                else shop.moment(created, shop.as_of - timedelta(days=2)))
    gender = rng.choice((None, 1, 2))
    shop.add("customer_entity", entity_id=cid, website_id=1, email=p.email, group_id=1,
             store_id=1, created_at=created, updated_at=created, is_active=1,
             created_in="Default Store View", firstname=p.first, lastname=p.last, dob=p.dob,
             password_hash=f"{shop.hex(64)}:{shop.hex(32)}:3_32_2_67108864",
             rp_token=shop.hex(32) if token else None,
             rp_token_created_at=token_at if token else None, default_billing=address_id,
             default_shipping=address_id, gender=gender, failures_num=0)
    shop.add("customer_grid_flat", entity_id=cid, name=p.name, email=p.email, created_at=created,
             dob=p.dob, gender=gender, shipping_full=p.address, billing_full=p.address,
             billing_firstname=p.first, billing_lastname=p.last, billing_telephone=p.phone,
             billing_postcode=p.postcode, billing_street=p.street, billing_city=p.city)
    if rng.random() < 0.8:
        login = shop.moment(created, shop.as_of, recent=True)
        logout = login + timedelta(minutes=rng.randrange(2, 90)) if rng.random() < 0.5 else None
        shop.add("customer_log", log_id=shop.next_id("customer_log"), customer_id=cid,
                 last_login_at=login, last_logout_at=logout)
    if rng.random() < 0.35:
        shop.add("newsletter_subscriber", subscriber_id=shop.next_id("newsletter_subscriber"),
                 store_id=1, change_status_at=shop.moment(created, shop.as_of), customer_id=cid,
                 subscriber_email=p.email, subscriber_status=rng.choice((1, 1, 1, 3)),
                 subscriber_confirm_code=shop.hex(32))
    if rng.random() < 0.04:
        shop.add("persistent_session", persistent_id=shop.next_id("persistent_session"),
                 key=shop.hex(50), customer_id=cid, website_id=1, info='{"remember_me": true}',
                 updated_at=shop.moment(created, shop.as_of))
    shop.accounts.append(Account(cid, p, created, address_id))




def _newsletter_guests(shop: DemoShop, count: int) -> None:
    for _ in range(count):
        shop.add("newsletter_subscriber", subscriber_id=shop.next_id("newsletter_subscriber"),
                 store_id=1, change_status_at=shop.moment(shop.start, shop.as_of),
                 customer_id=0, subscriber_email=shop.person().email,
                 # subscribed, or unsubscribed, or never confirmed
                 subscriber_status=shop.rng.choice((1, 1, 1, 1, 3, 4)),
                 subscriber_confirm_code=shop.hex(32))



def _traffic(shop: DemoShop, *, visits: int) -> None:
    """Visitor sessions of the last 400 days with their product views: the shop's Magento
    cron (visitor_clean) is assumed broken, which is common and what makes a backstop useful."""
    rng = shop.rng
    seen: set[tuple[str, int, int]] = set()
    starts = sorted(shop.moment(shop.as_of - timedelta(days=400), shop.as_of)
                    for _ in range(visits))
    for start in starts:
        vid = shop.next_id("customer_visitor")
        account = rng.choice(shop.accounts) if shop.accounts and rng.random() < 0.25 else None
        cid = account.id if account else None
        shop.add("customer_visitor", visitor_id=vid, customer_id=cid, created_at=start,
                 last_visit_at=start + timedelta(minutes=rng.randrange(1, 120)))
        for n in range(rng.randrange(1, 3)):
            product = rng.randrange(1, 41)
            at = start + timedelta(seconds=30 * n + rng.randrange(30))
            shop.add("report_event", event_id=shop.next_id("report_event"), logged_at=at,
                     event_type_id=rng.choice((1, 1, 1, 4)), object_id=product,
                     subject_id=cid or vid, subtype=0 if cid else 1, store_id=1)
            who = ("customer", cid) if cid else ("visitor", vid)
            if (*who, product) not in seen:
                seen.add((*who, product))
                shop.add("report_viewed_product_index",
                         index_id=shop.next_id("report_viewed_product_index"),
                         visitor_id=None if cid else vid, customer_id=cid, product_id=product,
                         store_id=1, added_at=at)
                if rng.random() < 0.15:  # put on the compare list too
                    shop.add("report_compared_product_index",
                             index_id=shop.next_id("report_compared_product_index"),
                             visitor_id=None if cid else vid, customer_id=cid,
                             product_id=product, store_id=1, added_at=at)

