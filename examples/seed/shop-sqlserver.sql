-- The production shop in T-SQL, for a SQL Server environment (or the TDS test
-- endpoint: dbfleet-tds-endpoint --seed examples/seed/shop-sqlserver.sql).
CREATE TABLE customers (
    id         INT PRIMARY KEY,
    name       NVARCHAR(100) NOT NULL,
    email      NVARCHAR(200) NOT NULL UNIQUE,
    created_at DATETIME2(0) NOT NULL
);

CREATE TABLE products (
    id    INT PRIMARY KEY,
    sku   NVARCHAR(20) NOT NULL UNIQUE,
    name  NVARCHAR(100) NOT NULL,
    price DECIMAL(10, 2) NOT NULL
);

CREATE TABLE orders (
    id          INT PRIMARY KEY,
    customer_id INT NOT NULL REFERENCES customers (id),
    product_id  INT NOT NULL REFERENCES products (id),
    quantity    INT NOT NULL DEFAULT 1,
    amount      DECIMAL(10, 2) NOT NULL,
    status      NVARCHAR(20) NOT NULL DEFAULT N'new',
    ordered_on  DATE NOT NULL
);

CREATE INDEX orders_by_customer ON orders (customer_id);

CREATE VIEW order_totals AS
    SELECT c.name AS customer, COUNT(o.id) AS orders, SUM(o.amount) AS total
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
    GROUP BY c.id, c.name;

INSERT INTO customers (id, name, email, created_at) VALUES
    (1, N'Ada Lovelace',    N'ada@example.com',    '2024-01-05 09:12:00'),
    (2, N'Grace Hopper',    N'grace@example.com',  '2024-02-11 14:30:00'),
    (3, N'Alan Turing',     N'alan@example.com',   '2024-03-20 08:45:00'),
    (4, N'Katherine Johnson', N'kj@example.com',   '2024-04-02 17:05:00');

INSERT INTO products (id, sku, name, price) VALUES
    (1, N'KB-01', N'Mechanical keyboard', 89.90),
    (2, N'MS-02', N'Wireless mouse',      29.90),
    (3, N'MN-27', N'27" monitor',         249.00);

INSERT INTO orders (id, customer_id, product_id, quantity, amount, status, ordered_on) VALUES
    (1001, 1, 1, 1,  89.90, N'shipped',   '2024-05-01'),
    (1002, 2, 2, 2,  64.90, N'shipped',   '2024-05-03'),
    (1003, 3, 3, 1, 249.00, N'new',       '2024-05-04'),
    (1004, 1, 2, 1,  29.90, N'cancelled', '2024-05-06'),
    (1005, 4, 1, 1,  89.90, N'new',       '2024-05-07');
