-- The development shop: one migration ahead of production (products.weight_grams),
-- and test data that drifted: order 1002 has another amount, order 1005 is missing.
CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,
    sku          TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    price        DECIMAL(10, 2) NOT NULL,
    weight_grams INTEGER
);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    product_id  INTEGER NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL DEFAULT 1,
    amount      DECIMAL(10, 2) NOT NULL,
    status      TEXT NOT NULL DEFAULT 'new',
    ordered_on  DATE NOT NULL
);

CREATE INDEX orders_by_customer ON orders (customer_id);

CREATE VIEW order_totals AS
    SELECT c.name AS customer, COUNT(o.id) AS orders, SUM(o.amount) AS total
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
    GROUP BY c.id;

INSERT INTO customers (id, name, email, created_at) VALUES
    (1, 'Ada Lovelace',    'ada@example.com',    '2024-01-05 09:12:00'),
    (2, 'Grace Hopper',    'grace@example.com',  '2024-02-11 14:30:00'),
    (3, 'Alan Turing',     'alan@example.com',   '2024-03-20 08:45:00'),
    (4, 'Katherine Johnson', 'kj@example.com',   '2024-04-02 17:05:00');

INSERT INTO products (id, sku, name, price, weight_grams) VALUES
    (1, 'KB-01', 'Mechanical keyboard', '89.90', 950),
    (2, 'MS-02', 'Wireless mouse',      '29.90', 85),
    (3, 'MN-27', '27" monitor',         '249.00', 5400);

INSERT INTO orders (id, customer_id, product_id, quantity, amount, status, ordered_on) VALUES
    (1001, 1, 1, 1,  89.90, 'shipped',   '2024-05-01'),
    (1002, 2, 2, 2,  59.80, 'shipped',   '2024-05-03'),
    (1003, 3, 3, 1, 249.00, 'new',       '2024-05-04'),
    (1004, 1, 2, 1,  29.90, 'cancelled', '2024-05-06');
