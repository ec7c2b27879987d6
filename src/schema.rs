// @generated automatically by Diesel CLI.

diesel::table! {
    books (id) {
        id -> Integer,
        title -> Text,
        author -> Text,
        price -> Double,
        rating -> Integer,
        published -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        description -> Nullable<Text>,
        version -> Integer,
    }
}

diesel::table! {
    reviews (id) {
        id -> Integer,
        book_id -> Integer,
        author -> Text,
        content -> Text,
        created_at -> Timestamp,
        version -> Integer,
    }
}

diesel::joinable!(reviews -> books (book_id));

diesel::allow_tables_to_appear_in_same_query!(books, reviews,);
