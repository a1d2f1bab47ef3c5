//! Proving that a paged read is complete: the one checker every client's listing goes through.
//!
//! A listing that stops early makes a live object look absent, and "absent" becomes "create":
//! a duplicate. So a listing is complete only when it is *proven* so ([`Listing::page`]):
//!
//! - the number of distinct items equals the total the server stated (CONNECT `Total-Count`,
//!   Mist `X-Page-Total`, Atlan `totalRecord`/`filterRecord`/`approximateCount`), and that
//!   total stayed the same on every page;
//! - every page advanced: a page of items already seen is a repeated page, and an id seen
//!   twice with different content is an error;
//! - no page came back empty before the stated total was reached. A page *shorter* than asked
//!   for, with more items stated, is not an error: the server capped the page size, and the
//!   listing keeps paging from where it got to;
//! - when the server states no total, only an empty page ends the listing.
//!
//! Pages are bounded too: a stated total must fit in `max_pages` pages of the size asked for,
//! or of the first page's size where the server chooses it (otherwise the listing fails
//! before reading further, so a lying total costs one request),
//! and no listing reads more than `max_pages` pages. Items are remembered as two 64-bit
//! hashes (id, content), so the proof costs little memory next to the items themselves.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use serde::Serialize;

use super::http::Http;
use super::{ErrorKind, PlatformError};

/// What to do after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read another page, starting after [`Listing::received`] items.
    Page,
    /// The listing is proven complete.
    Done,
}

/// The state of one paged read.
pub(crate) struct Listing {
    target: String,
    /// `METHOD route` of the listing, for errors.
    what: String,
    /// Items asked for per page; `None` when the server chooses (then the first page's
    /// size is taken as the page size).
    page_size: Option<u64>,
    /// The page size the server showed it keeps to when its first page held fewer items
    /// than asked for while stating more.
    server_cap: Option<u64>,
    max_pages: u32,
    /// The total stated with the first page, if any.
    claim: Option<u64>,
    pages: u32,
    received: u64,
    /// Hash of an item's id → hash of its content.
    seen: HashMap<u64, u64>,
    hasher: RandomState,
}

impl Listing {
    /// A listing of `what` (`GET /api/v1/orgs/{org_id}/apitokens`), asking `page_size` items
    /// per page when the client chooses the size.
    pub(crate) fn new(http: &Http, what: impl Into<String>, page_size: Option<u64>) -> Listing {
        Listing {
            target: http.target().to_string(),
            what: what.into(),
            page_size,
            server_cap: None,
            max_pages: http.options().max_pages.max(1),
            claim: None,
            pages: 0,
            received: 0,
            seen: HashMap::new(),
            hasher: RandomState::new(),
        }
    }

    /// Sets the page size when the server states it with its first answer (Mist's
    /// `X-Page-Limit`).
    pub(crate) fn set_page_size(&mut self, size: u64) {
        self.page_size = Some(size.max(1));
    }

    /// Items received so far, duplicates included: the offset of the next page.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Pages recorded so far.
    pub(crate) fn pages(&self) -> u32 {
        self.pages
    }

    /// The total the server stated, once it did.
    pub(crate) fn claim(&self) -> Option<u64> {
        self.claim
    }

    /// Records one page of items, each identified by `id`, with the total the server stated
    /// with it: [`Listing::page`] over each item's id and content. An item without an id is
    /// malformed, since its repeats could not be told apart.
    pub(crate) fn record<T: Serialize>(
        &mut self,
        claim: Option<u64>,
        page: &[T],
        id: impl Fn(&T) -> Option<&str>,
    ) -> Result<Next, PlatformError> {
        let items = self.identify(page, id)?;
        self.page(claim, items)
    }

    /// Records a response that is the whole list (an unpaged listing): its items must be
    /// distinct; there is nothing to page.
    pub(crate) fn record_whole<T: Serialize>(
        &mut self,
        page: &[T],
        id: impl Fn(&T) -> Option<&str>,
    ) -> Result<(), PlatformError> {
        let items = self.identify(page, id)?;
        self.page(None, items).map(|_| ())
    }

    fn identify<T: Serialize>(
        &self,
        page: &[T],
        id: impl Fn(&T) -> Option<&str>,
    ) -> Result<Vec<(u64, u64)>, PlatformError> {
        page.iter()
            .map(|item| match id(item) {
                Some(id) => Ok(self.item(id, item)),
                None => {
                    Err(self.malformed(format!("an item without an id on page {}", self.pages + 1)))
                }
            })
            .collect()
    }

    /// Records one page: the total the server stated with it, and each item as (id, content)
    /// (see [`Listing::item`]). Says whether another page must be read, or why the listing
    /// cannot be proven complete.
    pub(crate) fn page(
        &mut self,
        claim: Option<u64>,
        items: impl IntoIterator<Item = (u64, u64)>,
    ) -> Result<Next, PlatformError> {
        self.pages += 1;
        let page = self.pages;
        let items: Vec<(u64, u64)> = items.into_iter().collect();
        match (page, self.claim, claim) {
            (1, _, Some(c)) => {
                self.claim = Some(c);
                // Where the server chooses the page size, its first page shows it.
                let size = self.page_size.unwrap_or(items.len() as u64).max(1);
                if c > size.saturating_mul(u64::from(self.max_pages)) {
                    return Err(self.too_many(format!(
                        "the server states {c} items, more than {} pages of {size}",
                        self.max_pages
                    )));
                }
            }
            (_, Some(a), Some(b)) if a != b => {
                return Err(self.incomplete(format!(
                    "the stated total changed from {a} to {b} on page {page}"
                )));
            }
            (p, None, Some(b)) if p > 1 => {
                return Err(self.incomplete(format!(
                    "page {page} states a total of {b}, the first page stated none"
                )));
            }
            (_, Some(a), None) => {
                return Err(self.incomplete(format!(
                    "page {page} states no total, the first page stated {a}"
                )));
            }
            _ => {}
        }

        let mut count = 0u64;
        let mut new = 0u64;
        for (id, content) in items {
            count += 1;
            match self.seen.insert(id, content) {
                None => new += 1,
                Some(before) if before != content => {
                    return Err(self.incomplete(format!(
                        "an item came twice with different content (page {page})"
                    )));
                }
                Some(_) => {}
            }
        }
        self.received += count;
        if count > 0 && new == 0 {
            return Err(self.incomplete(format!(
                "page {page} repeats items already read: the server did not advance"
            )));
        }
        let distinct = self.seen.len() as u64;
        if page == 1
            && let Some(c) = self.claim
            && count < c
            && self.page_size.is_none_or(|size| count < size)
        {
            self.server_cap = Some(count);
        }
        // A full page that reaches the stated total may not be the last: a server that
        // understates its total would otherwise hide what follows. One more page, which
        // must come back empty, settles it (only when the total is a multiple of the page).
        let full = count > 0
            && (self.page_size.is_some_and(|size| count >= size)
                || self.server_cap.is_some_and(|cap| count >= cap));
        let next = match self.claim {
            Some(c) if distinct > c => {
                return Err(self.incomplete(format!(
                    "{distinct} distinct items arrived, more than the {c} the server stated"
                )));
            }
            Some(c) if distinct == c && full => Next::Page,
            Some(c) if distinct == c => Next::Done,
            Some(c) if count == 0 => {
                return Err(self.incomplete(format!(
                    "page {page} came back empty after {distinct} of the {c} items the server stated"
                )));
            }
            Some(_) => Next::Page,
            None if count == 0 => Next::Done,
            None => Next::Page,
        };
        if next == Next::Page && page >= self.max_pages {
            return Err(self.too_many(format!(
                "it does not end within {} pages ({distinct} items so far{})",
                self.max_pages,
                self.claim
                    .map(|c| format!(" of the {c} stated"))
                    .unwrap_or_default()
            )));
        }
        Ok(next)
    }

    /// Fails when `more` further pages would take the listing past `max_pages`: for a client
    /// that requests the pages a stated total needs all at once.
    pub(crate) fn fits(&self, more: u64) -> Result<(), PlatformError> {
        let pages = u64::from(self.pages).saturating_add(more);
        if pages > u64::from(self.max_pages) {
            return Err(self.too_many(format!(
                "the stated total needs {pages} pages of the size the server sends, more than {}",
                self.max_pages
            )));
        }
        Ok(())
    }

    /// The (id, content) pair [`Listing::page`] takes for one item: hashes of its id and of
    /// its JSON form.
    fn item(&self, id: &str, content: &impl Serialize) -> (u64, u64) {
        let mut h = self.hasher.build_hasher();
        h.write(id.as_bytes());
        let id = h.finish();
        let mut h = HashWriter(self.hasher.build_hasher());
        // Serializing into a hasher cannot fail for the plain data the clients parse.
        let _ = serde_json::to_writer(&mut h, content);
        (id, h.0.finish())
    }

    fn malformed(&self, what: impl std::fmt::Display) -> PlatformError {
        PlatformError::new(
            &self.target,
            ErrorKind::Malformed,
            format!("unexpected response to {}: {what}", self.what),
        )
    }

    fn incomplete(&self, why: String) -> PlatformError {
        PlatformError::new(
            &self.target,
            ErrorKind::Incomplete,
            format!("incomplete read of {}: {why}", self.what),
        )
        .with_hint("nothing was planned from it; run again, and report the server's behaviour if it persists")
    }

    fn too_many(&self, why: String) -> PlatformError {
        PlatformError::new(
            &self.target,
            ErrorKind::TooLarge,
            format!("listing {} stopped: {why}", self.what),
        )
        .with_hint("raise --max-pages if the tenant really holds this many")
    }
}

/// Feeds serialized bytes into a hasher.
struct HashWriter<H: Hasher>(H);

impl<H: Hasher> std::io::Write for HashWriter<H> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// For `#[serde(deserialize_with = "present")]` with `#[serde(default)]` on an
/// `Option<serde_json::Value>`: an absent key stays `None`, while `null` becomes
/// `Some(Value::Null)`, so a list field can tell "missing" from "null" (both unknown).
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ClientOptions;
    use crate::platform::http::{ApiError, Auth};
    use crate::secret::Secret;

    fn http(max_pages: u32) -> Http {
        let options = ClientOptions {
            max_pages,
            ..ClientOptions::default()
        };
        Http::new(
            "t",
            "http://127.0.0.1:9",
            Auth::Header(Secret::new("x")),
            None,
            &options,
            |_, _| ApiError::default(),
        )
        .unwrap()
    }

    fn items(listing: &Listing, ids: &[&str]) -> Vec<(u64, u64)> {
        ids.iter().map(|id| listing.item(id, id)).collect()
    }

    #[test]
    fn a_stated_total_is_reached_even_through_capped_pages() {
        let h = http(10);
        let mut l = Listing::new(&h, "GET /x", Some(1000));
        let page = items(&l, &["a", "b"]);
        assert_eq!(l.page(Some(3), page).unwrap(), Next::Page);
        assert_eq!(l.received(), 2);
        let page = items(&l, &["c"]);
        assert_eq!(l.page(Some(3), page).unwrap(), Next::Done);
    }

    #[test]
    fn a_full_page_reaching_the_total_is_confirmed_by_an_empty_one() {
        let h = http(10);
        // The total is a multiple of the page: one more page must come back empty.
        let mut l = Listing::new(&h, "GET /x", Some(2));
        let page = items(&l, &["a", "b"]);
        assert_eq!(l.page(Some(4), page).unwrap(), Next::Page);
        let page = items(&l, &["c", "d"]);
        assert_eq!(l.page(Some(4), page).unwrap(), Next::Page);
        assert_eq!(l.page(Some(4), Vec::new()).unwrap(), Next::Done);
        // A server that understates its total is caught on that page.
        let mut l = Listing::new(&h, "GET /x", Some(2));
        let page = items(&l, &["a", "b"]);
        assert_eq!(l.page(Some(2), page).unwrap(), Next::Page);
        let page = items(&l, &["c"]);
        let error = l.page(Some(2), page).unwrap_err();
        assert!(error.to_string().contains("more than the 2"), "{error}");
        // So is one that caps its pages below what was asked for.
        let mut l = Listing::new(&h, "GET /x", Some(1000));
        let page = items(&l, &["a"]);
        assert_eq!(l.page(Some(2), page).unwrap(), Next::Page);
        let page = items(&l, &["b"]);
        assert_eq!(l.page(Some(2), page).unwrap(), Next::Page);
        let page = items(&l, &["c"]);
        assert!(l.page(Some(2), page).is_err());
        // A last page shorter than the page size needs no confirmation.
        let mut l = Listing::new(&h, "GET /x", Some(1000));
        let page = items(&l, &["a", "b"]);
        assert_eq!(l.page(Some(2), page).unwrap(), Next::Done);
    }

    #[test]
    fn every_way_of_stopping_short_or_lying_is_an_error() {
        let h = http(10);
        let check = |pages: &[(Option<u64>, &[&str])], expect: &str| {
            let mut l = Listing::new(&h, "GET /x", Some(2));
            let mut last = Ok(Next::Page);
            for (claim, ids) in pages {
                let page = items(&l, ids);
                last = l.page(*claim, page);
                if last.is_err() {
                    break;
                }
            }
            let error = last.expect_err(expect);
            assert!(error.to_string().contains(expect), "{error} ≠ {expect}");
        };
        check(&[(Some(3), &["a", "b"]), (Some(3), &[])], "came back empty");
        check(
            &[(Some(4), &["a", "b"]), (Some(4), &["a", "b"])],
            "repeats items",
        );
        check(&[(Some(2), &["a", "b", "c"])], "more than the 2");
        check(
            &[(Some(3), &["a"]), (Some(4), &["b"])],
            "changed from 3 to 4",
        );
        check(&[(Some(3), &["a"]), (None, &["b"])], "states no total");
        check(&[(Some(100), &["a"])], "more than 10 pages of 2");
        check(
            &[
                (None, &["a"]),
                (None, &["b"]),
                (None, &["c"]),
                (None, &["d"]),
                (None, &["e"]),
                (None, &["f"]),
                (None, &["g"]),
                (None, &["h"]),
                (None, &["i"]),
                (None, &["j"]),
            ],
            "does not end within 10 pages",
        );
    }

    #[test]
    fn without_a_total_only_an_empty_page_ends_the_listing() {
        let h = http(10);
        let mut l = Listing::new(&h, "GET /x", Some(2));
        let page = items(&l, &["a"]);
        assert_eq!(l.page(None, page).unwrap(), Next::Page);
        assert_eq!(l.page(None, Vec::new()).unwrap(), Next::Done);
    }

    #[test]
    fn the_same_id_with_other_content_is_an_error_and_identical_repeats_are_counted_once() {
        let h = http(10);
        let mut l = Listing::new(&h, "GET /x", None);
        let (a, b, c) = (l.item("a", &"a"), l.item("b", &"b"), l.item("c", &"c"));
        assert_eq!(l.page(Some(3), vec![a, b]).unwrap(), Next::Page);
        // Full pages (of the size the first page showed): one more must come back empty.
        assert_eq!(l.page(Some(3), vec![b, c]).unwrap(), Next::Page);
        assert_eq!(l.page(Some(3), Vec::new()).unwrap(), Next::Done);
        assert_eq!(l.received(), 4);

        let mut l = Listing::new(&h, "GET /x", None);
        let error = l
            .record_whole(&[("a", 1), ("a", 2)], |(id, _)| Some(*id))
            .unwrap_err();
        assert!(error.to_string().contains("different content"), "{error}");
        let error = l.record_whole(&[("a", 1)], |_| None::<&str>).unwrap_err();
        assert!(error.to_string().contains("without an id"), "{error}");
    }
}
